import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { FingerprintTaken, LicenseNotFound, MachineHeartbeatDead, MachineLimitExceeded, MachineNotFound } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks, METADATA_MAX_BYTES } from '../core/validation.ts';
import { execute, rawOverAlias, sql, type Sql } from '../db/sql.ts';
import { License } from '../licenses/license.entity.ts';
import { assertLicenseUsable, licenseUnusable } from '../licenses/status.ts';
import { deactivateMachines } from './deactivation.ts';
import { isoTimestampSql, MACHINE_EVENTS } from './events.ts';
import { heartbeatSql, heartbeatStatus, nextHeartbeatAt, type HeartbeatStatus } from './heartbeat.ts';
import { foldMachineCount } from './machine-count.ts';
import { Machine, PLATFORMS, type Platform } from './machine.entity.ts';

export interface ActivateMachineInput {
  fingerprint: string;
  name?: string;
  platform?: Platform;
  hostname?: string;
  cores?: number;
  metadata?: Record<string, unknown>;
}

export interface ListMachinesQuery extends PageQuery {
  licenseId?: string;
  includeDeactivated: boolean;
  heartbeatStatus?: HeartbeatStatus;
}

export interface HeartbeatResult {
  id: string;
  lastHeartbeatAt: Date;
  status: 'NOT_REQUIRED' | 'ALIVE' | 'RESURRECTED';
  nextHeartbeatAt: Date | null;
}

/**
 * One heartbeat, one statement: lock the license's active machine, refuse it if it is past
 * reviving (with the policy as it is now), record the beat, log a resurrection, and return the
 * previous heartbeat, which tells an alive machine from a resurrected one.
 */
export function heartbeatStatement(machineId: string, licenseId: string, now: Date): Sql {
  return sql`
  with target as (
    select m.id, m.license_id, m.last_heartbeat_at, p.require_heartbeat, p.heartbeat_duration, p.heartbeat_resurrection_window
      from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
     where m.id = ${machineId} and m.license_id = ${licenseId} and m.deleted_at is null
     for update of m
  ), beat as (
    update machines m set last_heartbeat_at = ${now}, updated_at = ${now}, dead_at = null
      from target t
     where m.id = t.id and not ${heartbeatSql.pastResurrection('t', 't', now)}
     returning t.last_heartbeat_at, t.license_id, t.require_heartbeat, t.heartbeat_duration, t.heartbeat_resurrection_window
  ), revived as (
    insert into events (type, occurred_at, machine_id, license_id, data)
    select ${MACHINE_EVENTS.resurrected}, ${now}, ${machineId}, license_id,
           jsonb_build_object('deadSince', ${isoTimestampSql(heartbeatSql.deadline('beat', 'beat'))})
      from beat
     where ${heartbeatSql.status('beat', 'beat', now)} = 'DEAD'
  )
  select last_heartbeat_at as previous, require_heartbeat, heartbeat_duration, heartbeat_resurrection_window from beat`;
}

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
        const license = await em.findOne(License, { id: licenseId, deletedAt: null }, {
          lockMode: LockMode.PESSIMISTIC_WRITE,
          refresh: true,
        });
        // Deleted after it authenticated this request: its key no longer counts.
        if (!license) throw new LicenseNotFound(licenseId);
        assertLicenseUsable(license, now);

        const holder = await this.#activeHolderOf(em, licenseId, input.fingerprint);
        if (holder !== null) throw new FingerprintTaken(holder);

        await em.populate(license, ['policy']);
        const limit = license.policy.maxMachines;
        if (limit != null) {
          // O(1) at any fleet size; this transaction holds the license row, so it may fold.
          const active = await foldMachineCount(em, licenseId);
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
          deactivationReason: null,
          deadAt: null,
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
    const rows = await execute<{ id: string }[]>(
      em,
      sql`select id from machines where license_id = ${licenseId} and fingerprint = ${fingerprint} and deleted_at is null`,
    );
    return rows[0]?.id ?? null;
  }

  /** Machines in id order (UUIDv7: creation order), one page after `cursor`. */
  async list(query: ListMachinesQuery): Promise<Page<Machine>> {
    const where: FilterQuery<Machine> = {};
    if (query.licenseId !== undefined) where.license = query.licenseId;
    if (!query.includeDeactivated) where.deletedAt = null;
    if (query.heartbeatStatus !== undefined) {
      const now = this.#clock.now();
      const status = rawOverAlias(
        (m) =>
          sql`(select ${heartbeatSql.status(m, 'p', now)} from licenses l join policies p on p.id = l.policy_id where l.id = ${sql.raw(m)}.license_id)`,
      );
      Object.assign(where, { [status]: query.heartbeatStatus });
    }
    return findPage(this.#em, Machine, where, query, { populate: ['license.policy'] as never });
  }

  /** One machine, deactivated or not. */
  async get(id: string): Promise<Machine> {
    const machine = isUuid(id) ? await this.#em.findOne(Machine, { id }, { populate: ['license.policy'] }) : null;
    if (!machine) throw new MachineNotFound(id);
    return machine;
  }

  /**
   * Deactivates an active machine; with `licenseId`, only one of that license's. A machine of
   * another license is reported exactly like a missing one.
   */
  async deactivate(id: string, licenseId?: string): Promise<void> {
    if (!isUuid(id)) throw new MachineNotFound(id);
    const deactivated = await deactivateMachines(this.#em, { id, licenseId }, 'MANUAL', this.#clock.now());
    if (deactivated.length === 0) throw new MachineNotFound(id);
  }

  /**
   * Records a heartbeat for an active machine of the license. One statement locks the machine,
   * checks it is not past reviving (with the policy as it is now), and updates it; the previous
   * heartbeat it returns tells an alive machine from a resurrected one.
   */
  async heartbeat(id: string, license: License): Promise<HeartbeatResult> {
    if (!isUuid(id)) throw new MachineNotFound(id);
    const now = this.#clock.now();
    const refusal = licenseUnusable(license, now);
    if (refusal !== null) {
      // Another license's machine stays a 404 even to a suspended license: no hint it exists.
      if ((await this.#em.count(Machine, { id, license: license.id, deletedAt: null })) === 0) throw new MachineNotFound(id);
      throw refusal;
    }
    const rows = await execute<{ previous: Date; require_heartbeat: boolean; heartbeat_duration: number; heartbeat_resurrection_window: number }[]>(
      this.#em,
      heartbeatStatement(id, license.id, now),
    );
    const row = rows[0];
    if (row === undefined) {
      const machine = await this.#em.findOne(Machine, { id, license: license.id, deletedAt: null }, { populate: ['license.policy'] });
      if (!machine) throw new MachineNotFound(id);
      throw new MachineHeartbeatDead(nextHeartbeatAt(machine.lastHeartbeatAt, machine.license.policy) ?? machine.lastHeartbeatAt);
    }
    const policy = {
      requireHeartbeat: row.require_heartbeat,
      heartbeatDuration: row.heartbeat_duration,
      heartbeatResurrectionWindow: row.heartbeat_resurrection_window,
    };
    const before = heartbeatStatus(new Date(row.previous), policy, now);
    return {
      id: id.toLowerCase(),
      lastHeartbeatAt: now,
      status: before === 'DEAD' ? 'RESURRECTED' : before,
      nextHeartbeatAt: nextHeartbeatAt(now, policy),
    };
  }
}
