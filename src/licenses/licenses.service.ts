import { LockMode } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { ExpiresInPast, LicenseNotFound, UnknownPolicy } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import { execute, sql } from '../db/sql.ts';
import { recordEvent } from '../events/record.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import { KeyHasher } from '../keys/hashing.ts';
import { generateLicenseKey, parseLicenseKey } from '../keys/license-key.ts';
import { deactivateMachines } from '../machines/deactivation.ts';
import { heartbeatStatus } from '../machines/heartbeat.ts';
import { machineCountSql } from '../machines/machine-count.ts';
import { type MachineRecord, toMachineRecord } from '../machines/machine-record.ts';
import { Policy } from '../policies/policy.entity.ts';
import { licenseSubject } from './events.ts';
import { License } from './license.entity.ts';
import { type LicenseRecord, toLicenseRecord } from './license-record.ts';
import { type LicenseStatus, licenseStatus, refusalFor } from './status.ts';
import { lookupValidation, type ValidationLookups } from './validation-lookup.ts';

// The CLI offers the statuses as filter values.
export { LICENSE_STATUSES, type LicenseStatus } from './status.ts';

export interface CreateLicenseInput {
  policyId: string;
  name?: string | null;
  expiresAt?: Date | null;
  metadata?: Record<string, unknown>;
}

export interface UpdateLicenseInput {
  name?: string | null;
  expiresAt?: Date | null;
  policyId?: string;
  metadata?: Record<string, unknown>;
}

export interface CreatedLicense {
  license: License;
  /** The plain key: shown once, never stored. */
  key: string;
}

/** A license as reads show it: with what is computed at read time. */
export interface LicenseView {
  license: LicenseRecord;
  status: LicenseStatus;
  /** Active (not deactivated) machines. */
  machineCount: number;
}

export type ValidationCode =
  | 'VALID'
  | 'SUSPENDED'
  | 'EXPIRED'
  | 'NO_MACHINE'
  | 'FINGERPRINT_NOT_ACTIVATED'
  | 'HEARTBEAT_DEAD'
  | 'TOO_MANY_MACHINES';

export interface Validation {
  valid: boolean;
  code: ValidationCode;
  detail: string;
  license: LicenseView;
  machine: MachineRecord | null;
}

/** What a license listing shows of the key: its prefix and last group. */
function keyHint(key: string): string {
  return `${key.slice(0, key.indexOf('-'))}-…-${key.slice(key.lastIndexOf('-') + 1)}`;
}

function checkInput(input: {
  name?: string | null;
  expiresAt?: Date | null;
  metadata?: Record<string, unknown>;
}): void {
  const checks = new Checks();
  checks.text('/name', input.name, { min: 1, max: 255 });
  checks.instant('/expiresAt', input.expiresAt);
  checks.metadata('/metadata', input.metadata);
  checks.throwIfAny();
}

export class LicensesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #hasher: KeyHasher;
  readonly #authCache: AuthCache | undefined;
  readonly #validations: ValidationLookups | undefined;

  /** `validations`: a server's grouped validation reads; without it each validation reads alone. */
  constructor(
    em: EntityManager,
    clock: Clock,
    hasher: KeyHasher,
    authCache?: AuthCache,
    validations?: ValidationLookups,
  ) {
    this.#em = em;
    this.#clock = clock;
    this.#hasher = hasher;
    this.#authCache = authCache;
    this.#validations = validations;
  }

  /**
   * A live policy to put a license under, share-locked for the rest of the transaction so a
   * concurrent policy deletion cannot slip in between the check and the insert.
   */
  async #livePolicy(em: EntityManager, policyId: string): Promise<Policy> {
    const policy = isUuid(policyId)
      ? await em.findOne(Policy, { id: policyId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_READ })
      : null;
    if (!policy) throw new UnknownPolicy(policyId);
    return policy;
  }

  /**
   * A license that is expired on arrival is a mistake, not a wish: ending one now is what
   * suspending (reversible) and deleting are for, and those say so in the license's status.
   */
  #refusePastExpiry(expiresAt: Date | null | undefined): void {
    if (expiresAt && expiresAt.getTime() <= this.#clock.now().getTime()) throw new ExpiresInPast(expiresAt);
  }

  async create(input: CreateLicenseInput): Promise<CreatedLicense> {
    checkInput(input);
    this.#refusePastExpiry(input.expiresAt);
    return this.#em.transactional(async (em) => {
      const policy = await this.#livePolicy(em, input.policyId);
      const key = generateLicenseKey(policy.keyPrefix);
      const now = this.#clock.now();
      const license = em.create(License, {
        id: uuidv7(),
        policy,
        keyHash: this.#hasher.hash('license-key', key),
        keyHint: keyHint(key),
        name: input.name ?? null,
        metadata: input.metadata ?? {},
        expiresAt: input.expiresAt ?? null,
        suspendedAt: null,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
      });
      await em.flush();
      await recordEvent(em, 'license.created', licenseSubject(license.id), now);
      return { license, key };
    });
  }

  async list(query: PageQuery & { policyId?: string; status?: LicenseStatus }): Promise<Page<LicenseView>> {
    const now = this.#clock.now();
    const where: FilterQuery<License> = { deletedAt: null };
    if (query.policyId !== undefined) where.policy = query.policyId;
    if (query.status === 'SUSPENDED') where.suspendedAt = { $ne: null };
    if (query.status === 'EXPIRED') Object.assign(where, { suspendedAt: null, expiresAt: { $lte: now } });
    if (query.status === 'ACTIVE')
      Object.assign(where, { suspendedAt: null, $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] });
    const page = await findPage(this.#em, License, where, query);
    return { ...page, items: await this.views(page.items) };
  }

  /** A live (not deleted) license. */
  async get(id: string): Promise<License> {
    const license = isUuid(id)
      ? await this.#em.findOne(License, { id, deletedAt: null }, { populate: ['policy'] })
      : null;
    if (!license) throw new LicenseNotFound(id);
    return license;
  }

  async view(id: string): Promise<LicenseView> {
    return (await this.views([await this.get(id)]))[0]!;
  }

  /**
   * Status and machine counts for licenses, one query for all of them. The count is kept beside
   * the license (machines/machine-count.ts) and read fresh here: counting the machines would
   * scan every machine of a large license on every read.
   */
  async views(licenses: LicenseRecord[]): Promise<LicenseView[]> {
    const now = this.#clock.now();
    const counts = new Map<string, number>();
    if (licenses.length > 0) {
      const rows = await execute<{ id: string; machine_count: number }[]>(
        this.#em,
        sql`select l.id, ${machineCountSql('l')} as machine_count from licenses l where l.id in (${licenses.map((l) => l.id)})`,
      );
      for (const row of rows) counts.set(row.id, row.machine_count);
    }
    return licenses.map((license) => ({
      license,
      status: licenseStatus(license, now),
      machineCount: counts.get(license.id) ?? 0,
    }));
  }

  /** Applies a merge patch of name, expiry, metadata and policy. */
  async update(id: string, patch: UpdateLicenseInput): Promise<LicenseView> {
    const changes = pick(patch, ['name', 'expiresAt', 'policyId', 'metadata'] as const);
    await this.#em.transactional(async (em) => {
      const license = isUuid(id) ? await em.findOne(License, { id, deletedAt: null }) : null;
      if (!license) throw new LicenseNotFound(id);
      const metadata = changes.metadata === undefined ? undefined : mergePatch(license.metadata, changes.metadata);
      checkInput({ ...changes, metadata });
      this.#refusePastExpiry(changes.expiresAt);
      const { policyId, ...fields } = changes;
      if (policyId !== undefined) license.policy = await this.#livePolicy(em, policyId);
      const now = this.#clock.now();
      em.assign(license, { ...fields, ...(metadata ? { metadata } : {}), updatedAt: now });
      await em.flush();
      await recordEvent(em, 'license.updated', licenseSubject(id), now);
    });
    // Committed: this replica's next request must not see the old row (the others are notified).
    this.#authCache?.forget();
    return this.view(id);
  }

  /** Suspends (true) or reinstates (false); doing it twice changes nothing. */
  async setSuspended(id: string, suspended: boolean): Promise<LicenseView> {
    const license = await this.get(id);
    if ((license.suspendedAt != null) !== suspended) {
      const now = this.#clock.now();
      license.suspendedAt = suspended ? now : null;
      license.updatedAt = now;
      await this.#em.transactional(async (em) => {
        await em.flush();
        await recordEvent(em, suspended ? 'license.suspended' : 'license.reinstated', licenseSubject(id), now);
      });
      this.#authCache?.forget();
    }
    return (await this.views([license]))[0]!;
  }

  /**
   * Deletes a license and deactivates its machines in one transaction. Both are soft: the
   * machines stay readable with `deactivationReason: LICENSE_DELETED`, and the key stops
   * authenticating at once.
   */
  async delete(id: string): Promise<void> {
    await this.#em.transactional(async (em) => {
      const license = isUuid(id)
        ? await em.findOne(License, { id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE })
        : null;
      if (!license) throw new LicenseNotFound(id);
      const now = this.#clock.now();
      await deactivateMachines(em, { licenseId: id }, 'LICENSE_DELETED', now);
      license.deletedAt = now;
      license.updatedAt = now;
      await em.flush();
      await recordEvent(em, 'license.deleted', licenseSubject(id), now);
    });
    this.#authCache?.forget();
  }

  /**
   * The live license a presented key belongs to, or null. A key that fails its check character
   * never reaches the database; a key the cache knows does not either.
   */
  async authenticate(presented: string): Promise<LicenseRecord | null> {
    const canonical = parseLicenseKey(presented);
    if (canonical === null) return null;
    const hash = this.#hasher.hash('license-key', canonical);
    // Every license-key request starts here, so this is plain SQL and a plain record: the query
    // builder, and then mapping an entity, would cost more than the query (bench/README.md).
    const load = async () => {
      const [row] = await execute<Record<string, unknown>[]>(
        this.#em,
        sql`select * from licenses where key_hash = ${hash} and deleted_at is null`,
      );
      return row ? toLicenseRecord(row) : null;
    };
    const license = this.#authCache
      ? await this.#authCache.through(`license:${hash.toString('base64')}`, load)
      : await load();
    return license !== null && KeyHasher.equal(license.keyHash, hash) ? license : null;
  }

  /**
   * Whether a license is good for use now, and with a fingerprint, whether that machine is. Every
   * installed copy calls this: the policy, the machine count and the machine come in one
   * statement, as plain rows, shared with the validations that arrive beside it.
   */
  async validate(license: LicenseRecord, fingerprint?: string): Promise<Validation> {
    const now = this.#clock.now();
    const query = { licenseId: license.id, fingerprint: fingerprint ?? null };
    const row = this.#validations ? await this.#validations.lookup(query) : await lookupValidation(this.#em, query);
    const view: LicenseView = { license, status: licenseStatus(license, now), machineCount: row.machine_count };
    const policy = { maxMachines: row.max_machines };
    const machine = row.m_id == null ? null : toMachineRecord(row);
    const verdict = (code: ValidationCode, detail: string, machine: MachineRecord | null = null): Validation => ({
      valid: code === 'VALID',
      code,
      detail,
      license: view,
      machine,
    });

    // A refused license is told the same words the machine operations refuse it with.
    if (view.status !== 'ACTIVE') return verdict(view.status, refusalFor(license, view.status)!.detail);
    if (policy.maxMachines != null && view.machineCount > policy.maxMachines) {
      return verdict(
        'TOO_MANY_MACHINES',
        `The license has ${view.machineCount} active machines; its policy now allows ${policy.maxMachines}.`,
      );
    }
    if (fingerprint === undefined) return verdict('VALID', 'The license is valid.');
    if (view.machineCount === 0) return verdict('NO_MACHINE', 'The license has no active machines.');
    if (!machine) return verdict('FINGERPRINT_NOT_ACTIVATED', 'No active machine of the license has this fingerprint.');
    if (heartbeatStatus(machine.lastHeartbeatAt, machine.license.policy, now) === 'DEAD') {
      return verdict('HEARTBEAT_DEAD', 'The machine missed its heartbeat window and is dead.', machine);
    }
    return verdict('VALID', 'The license is valid and the machine is activated.', machine);
  }
}
