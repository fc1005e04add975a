import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { FingerprintTaken, MachineLimitExceeded, MachineNotFound } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Checks, METADATA_MAX_BYTES } from '../core/validation.ts';
import { License } from '../licenses/license.entity.ts';
import { assertLicenseUsable, licenseUnusable } from '../licenses/licenses.service.ts';
import { Machine, PLATFORMS, type Platform } from './machine.entity.ts';

export interface ActivateMachineInput {
  fingerprint: string;
  name?: string;
  platform?: Platform;
  hostname?: string;
  cores?: number;
  metadata?: Record<string, unknown>;
}

export interface ListMachinesQuery {
  licenseId?: string;
  /** The id of the last machine of the previous page. */
  cursor?: string;
  limit: number;
  includeDeactivated: boolean;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  hasMore: boolean;
}

export const MAX_PAGE_SIZE = 100;

export class MachinesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;

  constructor(em: EntityManager, clock: Clock) {
    this.#em = em;
    this.#clock = clock;
  }

  /**
   * Activates a machine under a license. The license row is locked for the length of the
   * transaction, so concurrent activations of one license run one after another and each sees
   * the count the previous one left: the limit and the fingerprint rule cannot be raced. The
   * partial unique index on (license_id, fingerprint) backs the fingerprint rule in the database.
   */
  async activate(licenseId: string, input: ActivateMachineInput): Promise<Machine> {
    const checks = new Checks();
    checks.text('/fingerprint', input.fingerprint, { min: 8, max: 256 });
    checks.text('/name', input.name, { max: 255 });
    checks.text('/hostname', input.hostname, { max: 255 });
    checks.integer('/cores', input.cores, { min: 1, max: 2_147_483_647 });
    if (input.platform !== undefined && !PLATFORMS.includes(input.platform)) {
      checks.fail('/platform', `must be one of ${PLATFORMS.join(', ')}`);
    }
    checks.jsonSize('/metadata', input.metadata, METADATA_MAX_BYTES);
    checks.throwIfAny();

    try {
      return await this.#em.transactional(async (em) => {
        const now = this.#clock.now();
        const license = await em.findOneOrFail(License, { id: licenseId }, {
          lockMode: LockMode.PESSIMISTIC_WRITE,
          refresh: true,
        });
        assertLicenseUsable(license, now);

        const holder = await this.#activeHolderOf(em, licenseId, input.fingerprint);
        if (holder !== null) throw new FingerprintTaken(holder);

        await em.populate(license, ['policy']);
        const limit = license.policy.maxMachines;
        if (limit != null) {
          const active = await em.count(Machine, { license: licenseId, deletedAt: null });
          if (active >= limit) throw new MachineLimitExceeded(limit);
        }

        return em.create(Machine, {
          id: uuidv7(),
          license,
          fingerprint: input.fingerprint,
          name: input.name ?? null,
          platform: input.platform ?? null,
          hostname: input.hostname ?? null,
          cores: input.cores ?? null,
          metadata: input.metadata ?? {},
          lastHeartbeatAt: now,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
      });
    } catch (error) {
      // Only reachable if a writer bypassed the license lock; the index still holds the rule.
      if (error instanceof UniqueConstraintViolationException) {
        const holder = await this.#activeHolderOf(this.#em.fork(), licenseId, input.fingerprint);
        if (holder !== null) throw new FingerprintTaken(holder);
      }
      throw error;
    }
  }

  async #activeHolderOf(em: EntityManager, licenseId: string, fingerprint: string): Promise<string | null> {
    const rows = await em.execute<{ id: string }[]>(
      'select id from machines where license_id = ? and fingerprint = ? and deleted_at is null',
      [licenseId, fingerprint],
    );
    return rows[0]?.id ?? null;
  }

  /** Machines in id order (UUIDv7: creation order), one page after `cursor`. */
  async list(query: ListMachinesQuery): Promise<Page<Machine>> {
    const where: FilterQuery<Machine> = {};
    if (query.licenseId !== undefined) where.license = query.licenseId;
    if (query.cursor !== undefined) where.id = { $gt: query.cursor };
    if (!query.includeDeactivated) where.deletedAt = null;
    const limit = Math.min(Math.max(query.limit, 1), MAX_PAGE_SIZE);
    // One extra row tells whether another page follows without a second query.
    const rows = await this.#em.find(Machine, where, { orderBy: { id: 'asc' }, limit: limit + 1 });
    const items = rows.slice(0, limit);
    return {
      items,
      nextCursor: items.at(-1)?.id ?? null,
      hasMore: rows.length > limit,
    };
  }

  /** One machine, deactivated or not. */
  async get(id: string): Promise<Machine> {
    const machine = isUuid(id) ? await this.#em.findOne(Machine, { id }) : null;
    if (!machine) throw new MachineNotFound(id);
    return machine;
  }

  /**
   * Deactivates an active machine; with `licenseId`, only one of that license's. A machine of
   * another license is reported exactly like a missing one.
   */
  async deactivate(id: string, licenseId?: string): Promise<void> {
    const now = this.#clock.now();
    const where: FilterQuery<Machine> = { id, deletedAt: null };
    if (licenseId !== undefined) where.license = licenseId;
    const changed = isUuid(id) ? await this.#em.nativeUpdate(Machine, where, { deletedAt: now, updatedAt: now }) : 0;
    if (changed === 0) throw new MachineNotFound(id);
  }

  /** Records a heartbeat for an active machine of the license, checked usable at `now`. */
  async heartbeat(id: string, license: License): Promise<{ id: string; lastHeartbeatAt: Date }> {
    const now = this.#clock.now();
    const where: FilterQuery<Machine> = { id, license: license.id, deletedAt: null };
    if (!isUuid(id)) throw new MachineNotFound(id);
    const refusal = licenseUnusable(license, now);
    if (refusal !== null) {
      // Another license's machine stays a 404 even to a suspended license: no hint it exists.
      if ((await this.#em.count(Machine, where)) === 0) throw new MachineNotFound(id);
      throw refusal;
    }
    const changed = await this.#em.nativeUpdate(Machine, where, { lastHeartbeatAt: now, updatedAt: now });
    if (changed === 0) throw new MachineNotFound(id);
    return { id, lastHeartbeatAt: now };
  }
}
