import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  FingerprintTaken,
  LicenseNotFound,
  MachineHeartbeatDead,
  MachineLimitExceeded,
  MachineNotFound,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { type Page, type PageQuery, pageOf, pageWindow } from '../core/pagination.ts';
import { Checks } from '../core/validation.ts';
import { execute, maybeDate, type Sql, sql } from '../db/sql.ts';
import { machineJsonSql } from '../events/objects.ts';
import type { EventType } from '../events/types.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import { licenseRefusal } from '../licenses/access.ts';
import { startExpiry } from '../licenses/expiry.ts';
import type { LicenseRecord } from '../licenses/license-record.ts';
import { refusalOf } from '../licenses/status.ts';
import type { ExpirationBasis, ExpirationStrategy } from '../policies/policy.entity.ts';
import { deactivateMachines } from './deactivation.ts';
import { type HeartbeatStatus, heartbeatSql, heartbeatStatus, nextHeartbeatAt } from './heartbeat.ts';
import { type BeatRow, type HeartbeatBatcher, heartbeatStatement } from './heartbeat-batch.ts';
import { Machine, PLATFORMS, type Platform } from './machine.entity.ts';
import { type MachineRecord, type MachineRecordRow, machineRecordColumns, toMachineRecord } from './machine-record.ts';

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

export class MachinesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #heartbeats: HeartbeatBatcher | undefined;
  readonly #authCache: AuthCache | undefined;

  /**
   * `heartbeats`: the server's group commit; without it each heartbeat is its own statement.
   * `authCache`: forgotten when an activation starts its license's expiry.
   */
  constructor(em: EntityManager, clock: Clock, heartbeats?: HeartbeatBatcher, authCache?: AuthCache) {
    this.#em = em;
    this.#clock = clock;
    this.#heartbeats = heartbeats;
    this.#authCache = authCache;
  }

  /**
   * Activates a machine under a license. The license row is locked for the length of the
   * transaction, so concurrent activations of one license run one after another and each sees
   * the count the previous one left: the limit and the fingerprint rule cannot be raced. The
   * partial unique index on (license_id, fingerprint) backs the fingerprint rule in the database.
   */
  async activate(licenseId: string, input: ActivateMachineInput): Promise<MachineRecord> {
    const checks = new Checks();
    checks.text('/fingerprint', input.fingerprint, { min: 8, max: 256 });
    checks.text('/name', input.name, { max: 255 });
    checks.text('/hostname', input.hostname, { max: 255 });
    checks.integer('/cores', input.cores, { min: 1, max: 2_147_483_647 });
    if (input.platform !== undefined && !PLATFORMS.includes(input.platform)) {
      checks.fail('/platform', `must be one of ${PLATFORMS.join(', ')}`);
    }
    checks.metadata('/metadata', input.metadata);
    checks.throwIfAny();

    let expiryStarted = false;
    try {
      const machine = await this.#em.transactional(async (em) => {
        const now = this.#clock.now();
        // Plain statements, no entities: every installed copy activates.
        const [license] = await execute<
          {
            suspended_at: Date | null;
            expires_at: Date | null;
            max_machines: number | null;
            expiry_pending: boolean;
            duration: number | null;
            expiration_basis: ExpirationBasis;
            expiration_strategy: ExpirationStrategy;
          }[]
        >(
          em,
          sql`select l.suspended_at, l.expires_at, l.expiry_pending, p.max_machines, p.duration, p.expiration_basis, p.expiration_strategy
                from licenses l join policies p on p.id = l.policy_id
               where l.id = ${licenseId} and l.deleted_at is null
                 for update of l`,
        );
        // Deleted after it authenticated this request: its key no longer counts.
        if (!license) throw new LicenseNotFound(licenseId);
        const refusal = refusalOf(
          { suspendedAt: maybeDate(license.suspended_at), expiresAt: maybeDate(license.expires_at) },
          license.expiration_strategy,
          'activate',
          now,
        );
        if (refusal !== null) throw refusal;

        // A statement of its own, so it sees every activation committed before the lock was ours.
        // This transaction holds the license row, so it folds the count's deltas
        // (machines/machine-count.ts): O(1) at any fleet size, and the deltas stay few.
        const [{ machine_count: active, holder }] = await execute<[{ machine_count: number; holder: string | null }]>(
          em,
          sql`with folded as (delete from machine_count_deltas where license_id = ${licenseId} returning delta)
              update licenses set machine_count = machine_count + coalesce((select sum(delta) from folded), 0)::int
               where id = ${licenseId}
              returning machine_count,
                        (select id from machines where license_id = ${licenseId} and fingerprint = ${input.fingerprint} and deleted_at is null) as holder`,
        );
        if (holder !== null) throw new FingerprintTaken(holder);
        if (license.max_machines != null && active >= license.max_machines)
          throw new MachineLimitExceeded(license.max_machines);

        const [row] = await execute<MachineRecordRow[]>(
          em,
          sql`with m as (
                insert into machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at)
                values (${uuidv7()}, ${licenseId}, ${input.fingerprint}, ${input.name ?? null}, ${input.platform ?? null}, ${input.hostname ?? null},
                        ${input.cores ?? null}, ${JSON.stringify(input.metadata ?? {})}::json, ${now}, ${now}, ${now})
                returning *
              ), activated as (
                -- The event, with the machine as the API shows it, written by the activation's own statement.
                insert into events (type, occurred_at, machine_id, license_id, data)
                select ${'machine.activated' satisfies EventType}, ${now}, m.id, m.license_id, json_build_object('machine', ${machineJsonSql('m', 'p', now)})
                  from m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id)
              select ${machineRecordColumns('m', 'p')} from m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id`,
        );
        // The license row is ours until commit, so the first activation is the only one to see the
        // expiry still pending, however many race.
        if (
          license.expiry_pending &&
          license.duration !== null &&
          license.expiration_basis === 'FROM_FIRST_ACTIVATION'
        ) {
          await startExpiry(em, licenseId, 'FROM_FIRST_ACTIVATION', now);
          expiryStarted = true;
        }
        return toMachineRecord(row!);
      });
      if (expiryStarted) this.#authCache?.forget();
      return machine;
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

  /**
   * Machines in id order (UUIDv7: creation order), one page after `cursor`, as plain records:
   * one statement, no entities.
   */
  async list(query: ListMachinesQuery): Promise<Page<MachineRecord>> {
    const { limit, after } = pageWindow(query);
    const conditions: Sql[] = [];
    if (query.licenseId !== undefined) conditions.push(sql`m.license_id = ${query.licenseId}`);
    if (!query.includeDeactivated) conditions.push(sql`m.deleted_at is null`);
    if (query.heartbeatStatus !== undefined)
      conditions.push(sql`${heartbeatSql.status('m', 'p', this.#clock.now())} = ${query.heartbeatStatus}`);
    if (after !== undefined) conditions.push(sql`m.id > ${after}`);
    const rows = await execute<MachineRecordRow[]>(
      this.#em,
      sql`select ${machineRecordColumns('m', 'p')}
            from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
           where ${conditions.length === 0 ? sql`true` : sql.join(conditions, ' and ')}
           order by m.id
           limit ${limit + 1}`,
    );
    return pageOf(rows.map(toMachineRecord), limit);
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
  async heartbeat(id: string, license: LicenseRecord): Promise<HeartbeatResult> {
    if (!isUuid(id)) throw new MachineNotFound(id);
    const now = this.#clock.now();
    const refusal = await licenseRefusal(this.#em, license, 'heartbeat', now);
    if (refusal !== null) {
      // Another license's machine stays a 404 even to a suspended license: no hint it exists.
      if ((await this.#em.count(Machine, { id, license: license.id, deletedAt: null })) === 0)
        throw new MachineNotFound(id);
      throw refusal;
    }
    const beat = { id, licenseId: license.id, now };
    const row = this.#heartbeats
      ? await this.#heartbeats.beat(beat)
      : (await execute<BeatRow[]>(this.#em, heartbeatStatement([beat])))[0];
    if (row === undefined) throw new MachineNotFound(id);
    const policy = {
      requireHeartbeat: row.require_heartbeat,
      heartbeatDuration: row.heartbeat_duration,
      heartbeatResurrectionWindow: row.heartbeat_resurrection_window,
    };
    if (!row.beaten)
      throw new MachineHeartbeatDead(nextHeartbeatAt(new Date(row.previous), policy) ?? new Date(row.previous));
    const before = heartbeatStatus(new Date(row.previous), policy, now);
    return {
      id: id.toLowerCase(),
      lastHeartbeatAt: now,
      status: before === 'DEAD' ? 'RESURRECTED' : before,
      nextHeartbeatAt: nextHeartbeatAt(now, policy),
    };
  }
}
