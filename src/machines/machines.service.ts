import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Clock } from '../core/clock.ts';
import {
  CoreLimitExceeded,
  FingerprintTaken,
  FingerprintTakenElsewhere,
  LicenseNotFound,
  MachineHeartbeatDead,
  MachineLimitExceeded,
  MachineNotFound,
  type UniquenessScope,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Lazy } from '../core/lazy.ts';
import { type Page, type PageQuery, pageOf, pageWindow } from '../core/pagination.ts';
import { Checks } from '../core/validation.ts';
import { keysetPage } from '../db/keyset.ts';
import { type DriverTransaction, execute, inDriverTransaction, maybeDate, type Sql, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql } from '../events/actor.ts';
import type { EventType } from '../events/types.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import { immediateRefusal, licenseRefusal } from '../licenses/access.ts';
import { licenseJsonSql } from '../licenses/events.ts';
import { startExpiry } from '../licenses/expiry.ts';
import type { LicenseRecord } from '../licenses/license-record.ts';
import { refusalOf } from '../licenses/status.ts';
import {
  limitStanding,
  type MachineUniquenessStrategy,
  type OverageStrategy,
  overageAllowance,
} from '../policies/limits.ts';
import type { ExpirationBasis, ExpirationStrategy } from '../policies/policy.entity.ts';
import { deactivateMachines } from './deactivation.ts';
import { machineJsonSql } from './events.ts';
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

/** What an activation reads of its license and policy, under the license row lock. */
interface ActivationLicenseRow {
  suspended_at: Date | null;
  expires_at: Date | null;
  policy_id: string;
  product_id: string | null;
  max_machines: number | null;
  max_cores: number | null;
  overage_strategy: OverageStrategy;
  machine_uniqueness_strategy: MachineUniquenessStrategy;
  expiry_pending: boolean;
  duration: number | null;
  expiration_basis: ExpirationBasis;
  expiration_strategy: ExpirationStrategy;
}

/**
 * The first key of the two-key advisory locks on fingerprints: a space of its own (two-key locks
 * never meet the one-key locks of migrations and bootstrap).
 */
const FINGERPRINT_LOCK_CLASS = 0x46505254; // "FPRT"

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
 * The joins and conditions of the review queue, after `from machines m`: active machines the
 * culling worker found past reviving under a `KEEP_DEAD` policy (it sets `dead_at`; a heartbeat
 * clears it), under a policy that still keeps dead machines and by whose heartbeat rule they are
 * still dead at `now`; with `product`, only that product's. The conditions on `m` are the
 * predicate of the queue's partial index (the console migration).
 */
export function reviewQueueSql(now: Date, product: string | null): Sql {
  return sql`join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
    where m.dead_at is not null and m.deleted_at is null
      and p.heartbeat_cull_strategy = 'KEEP_DEAD'
      and ${heartbeatSql.dead('m', 'p', now)}
      ${product === null ? sql`` : sql`and p.product_id = ${product}`}`;
}

/**
 * A page of the queue in its order, (dead_at, id), after `after`: the place of the previous
 * page's last machine.
 */
export function reviewQueuePageSql(queue: Sql, limit: number, after: { deadAt: Date; id: string } | undefined): Sql {
  // The first condition says nothing the second does not, but the planner can estimate it (it
  // guesses at a row comparison, and then sorts the whole queue rather than read it in order).
  const cursor =
    after === undefined
      ? sql``
      : sql`and m.dead_at >= ${after.deadAt} and (m.dead_at, m.id) > (${after.deadAt}, ${after.id}::uuid)`;
  return sql`select ${machineRecordColumns('m', 'p')} from machines m ${queue} ${cursor}
              order by m.dead_at, m.id limit ${limit + 1}`;
}

/** How many machines the queue holds, on every page. */
export function reviewQueueCountSql(queue: Sql): Sql {
  return sql`select count(*)::int as waiting from machines m ${queue}`;
}

export class MachinesService {
  readonly #lazyEm: Lazy<EntityManager>;
  /** The unit of work's EntityManager, forked when first needed (`Lazy`). */
  get #em(): EntityManager {
    return this.#lazyEm.value;
  }
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #heartbeats: HeartbeatBatcher | undefined;
  readonly #limit: string | null;
  readonly #authCache: AuthCache | undefined;
  readonly #pool: pg.Pool | undefined;

  /**
   * `heartbeats`: the server's group commit; without it each heartbeat is its own statement.
   * `limit`: the one product an API key is limited to; other machines are not found for it.
   * `authCache`: forgotten when an activation starts its license's expiry.
   * `pool`: the driver's pool, which activations run their transaction on (`DriverTransaction`);
   * without it, in the ORM's.
   */
  constructor(
    em: EntityManager | Lazy<EntityManager>,
    clock: Clock,
    actor: Actor | null,
    heartbeats?: HeartbeatBatcher,
    limit: string | null = null,
    authCache?: AuthCache,
    pool?: pg.Pool,
  ) {
    this.#pool = pool;
    this.#lazyEm = Lazy.from(em);
    this.#clock = clock;
    this.#actor = actor;
    this.#heartbeats = heartbeats;
    this.#limit = limit;
    this.#authCache = authCache;
  }

  /**
   * Activates a machine under a license. The license row is locked for the length of the
   * transaction, so concurrent activations of one license run one after another and each sees
   * the counts the previous one left: the machine and core limits and the fingerprint rule cannot
   * be raced. `for no key update`, as every writer of a license locks it: a deactivation or cull
   * whose count trigger inserts a delta (a key-share lock on the license) need not wait for it.
   * The partial unique index on (license_id, fingerprint) backs the fingerprint rule in the
   * database. Uniqueness beyond the license is decided under a transaction-scoped advisory
   * lock on the fingerprint (`#assertUniqueBeyondLicense`).
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
      const machine = await this.#transaction(async (em) => {
        const now = this.#clock.now();
        // Plain statements, no entities: every installed copy activates.
        const [license] = await execute<ActivationLicenseRow[]>(
          em,
          sql`select l.suspended_at, l.expires_at, l.expiry_pending, l.policy_id, p.product_id, p.max_machines,
                     p.max_cores, p.overage_strategy, p.machine_uniqueness_strategy,
                     p.duration, p.expiration_basis, p.expiration_strategy
                from licenses l join policies p on p.id = l.policy_id
               where l.id = ${licenseId} and l.deleted_at is null
                 for no key update of l`,
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
        // This transaction holds the license row, so it folds the counts' deltas
        // (machines/machine-count.ts): O(1) at any fleet size, and the deltas stay few.
        const [counted] = await execute<
          [{ machine_count: number; core_count: string; overage_at: Date | null; holder: string | null }]
        >(
          em,
          sql`with folded as (delete from machine_count_deltas where license_id = ${licenseId} returning delta, core_delta)
              update licenses set machine_count = machine_count + coalesce((select sum(delta) from folded), 0)::int,
                                  core_count = core_count + coalesce((select sum(core_delta) from folded), 0)::bigint
               where id = ${licenseId}
              returning machine_count, core_count, overage_at,
                        (select id from machines where license_id = ${licenseId} and fingerprint = ${input.fingerprint} and deleted_at is null) as holder`,
        );
        if (counted.holder !== null) throw new FingerprintTaken(counted.holder);
        await this.#assertUniqueBeyondLicense(em, licenseId, license, input.fingerprint);

        // Limits and overage (issue 18): the counts this activation would leave.
        const machines = counted.machine_count + 1;
        const cores = Number(counted.core_count) + (input.cores ?? 1);
        const strategy = license.overage_strategy;
        if (limitStanding(machines, license.max_machines, strategy) === 'BEYOND')
          throw new MachineLimitExceeded(overageAllowance(license.max_machines, strategy));
        if (limitStanding(cores, license.max_cores, strategy) === 'BEYOND')
          throw new CoreLimitExceeded(cores, overageAllowance(license.max_cores, strategy));
        const over =
          limitStanding(machines, license.max_machines, strategy) === 'OVERAGE' ||
          limitStanding(cores, license.max_cores, strategy) === 'OVERAGE';

        const [row] = await execute<MachineRecordRow[]>(
          em,
          sql`with m as (
                insert into machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at)
                values (${uuidv7()}, ${licenseId}, ${input.fingerprint}, ${input.name ?? null}, ${input.platform ?? null}, ${input.hostname ?? null},
                        ${input.cores ?? null}, ${JSON.stringify(input.metadata ?? {})}::json, ${now}, ${now}, ${now})
                returning *
              ), activated as (
                -- The event, with the machine as the API shows it, written by the activation's own statement.
                insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
                select ${'machine.activated' satisfies EventType}, ${now}, m.id, m.license_id, ${actorValuesSql(this.#actor)}, json_build_object('machine', ${machineJsonSql('m', 'p', now)})
                  from m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id)
              select ${machineRecordColumns('m', 'p')} from m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id`,
        );
        // The first activation to take the license over a limit marks it, under the license lock,
        // so however many race, one writes the event. A statement after the insert, so the
        // event's license counts this machine.
        if (over && counted.overage_at === null) {
          await execute(
            em,
            sql`with marked as (
                  update licenses l set overage_at = ${now} where l.id = ${licenseId} and l.overage_at is null returning l.*)
                insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
                select ${'license.overage' satisfies EventType}, ${now}, ${row!.m_id as string}, l.id, ${actorValuesSql(this.#actor)},
                       json_build_object('license', ${licenseJsonSql('l', now)}, 'maxMachines', p.max_machines, 'maxCores', p.max_cores)
                  from marked l join policies p on p.id = l.policy_id`,
          );
        }
        // The license row is ours until commit, so the first activation is the only one to see the
        // expiry still pending, however many race.
        if (
          license.expiry_pending &&
          license.duration !== null &&
          license.expiration_basis === 'FROM_FIRST_ACTIVATION'
        ) {
          await startExpiry(em, licenseId, 'FROM_FIRST_ACTIVATION', now, this.#actor);
          expiryStarted = true;
        }
        return toMachineRecord(row!);
      });
      if (expiryStarted) this.#authCache?.forget();
      return machine;
    } catch (error) {
      // Only reachable if a writer bypassed the license lock; the index still holds the rule.
      if (error instanceof UniqueConstraintViolationException || (error as { code?: unknown }).code === '23505') {
        const holder = await this.#activeHolderOf(this.#em.fork(), licenseId, input.fingerprint);
        if (holder !== null) throw new FingerprintTaken(holder);
      }
      throw error;
    }
  }

  /**
   * Refuses a fingerprint active on another license within the policy's uniqueness scope. The
   * check and the insert that follows are one decision only if no other activation of the same
   * fingerprint decides between them, so every activation that looks beyond its license first
   * takes a transaction-scoped advisory lock keyed by the fingerprint alone (whatever its scope:
   * keys per scope would let a per-product and a per-instance activation pass each other). It is
   * taken after the license row lock, as every activation takes them, so the two never deadlock;
   * activations of different fingerprints share nothing. `UNIQUE_PER_LICENSE` activations take
   * no lock: they never look beyond their license, and one racing a check ends as if it ran after.
   */
  /** `work` in a transaction: the driver's when the server gave its pool, else the ORM's. */
  #transaction<T>(work: (tx: EntityManager | DriverTransaction) => Promise<T>): Promise<T> {
    return this.#pool ? inDriverTransaction(this.#pool, work) : this.#em.transactional(work);
  }

  async #assertUniqueBeyondLicense(
    em: EntityManager | DriverTransaction,
    licenseId: string,
    license: ActivationLicenseRow,
    fingerprint: string,
  ): Promise<void> {
    const strategy = license.machine_uniqueness_strategy;
    if (strategy === 'UNIQUE_PER_LICENSE') return;
    await execute(em, sql`select pg_advisory_xact_lock(${FINGERPRINT_LOCK_CLASS}, hashtext(${fingerprint}))`);
    // A policy without a product is its own product: its licenses are the scope.
    const scope: UniquenessScope =
      strategy === 'UNIQUE_PER_INSTANCE'
        ? 'instance'
        : strategy === 'UNIQUE_PER_PRODUCT' && license.product_id !== null
          ? 'product'
          : 'policy';
    const within =
      scope === 'instance'
        ? sql`true`
        : scope === 'product'
          ? sql`p.product_id = ${license.product_id}`
          : sql`l.policy_id = ${license.policy_id}`;
    const [taken] = await execute<{ id: string }[]>(
      em,
      sql`select m.id from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
           where m.fingerprint = ${fingerprint} and m.deleted_at is null and m.license_id <> ${licenseId} and ${within}
           limit 1`,
    );
    if (taken) throw new FingerprintTakenElsewhere(scope);
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
    const where: Sql[] = [];
    if (query.licenseId !== undefined) where.push(sql`m.license_id = ${query.licenseId}`);
    if (this.#limit !== null) where.push(sql`p.product_id = ${this.#limit}`);
    if (!query.includeDeactivated) where.push(sql`m.deleted_at is null`);
    if (query.heartbeatStatus !== undefined) {
      const now = this.#clock.now();
      if (query.heartbeatStatus === 'DEAD') where.push(heartbeatSql.mayBeDead('m', now));
      where.push(sql`${heartbeatSql.status('m', 'p', now)} = ${query.heartbeatStatus}`);
    }
    return keysetPage(
      this.#em,
      {
        select: sql`select ${machineRecordColumns('m', 'p')}
                      from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id`,
        where,
        key: 'm.id',
        map: toMachineRecord,
      },
      query,
    );
  }

  /**
   * The review queue: the machines a `KEEP_DEAD` policy kept (`reviewQueueSql`), the longest dead
   * first, and how many there are. Both read the queue's partial index, never every machine.
   */
  async reviewQueue(query: PageQuery): Promise<Page<MachineRecord> & { waiting: number }> {
    const { limit, after } = pageWindow(query);
    const queue = reviewQueueSql(this.#clock.now(), this.#limit);
    // The cursor machine's place in the order, whether or not it is still in the queue. One with
    // no place (unknown, or brought back to life since) ends the queue.
    let place: { deadAt: Date; id: string } | undefined;
    if (after !== undefined) {
      const [row] = await execute<{ dead_at: unknown }[]>(
        this.#em,
        sql`select m.dead_at from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
             where m.id = ${after} ${this.#limit === null ? sql`` : sql`and p.product_id = ${this.#limit}`}`,
      );
      const deadAt = maybeDate(row?.dead_at);
      if (deadAt === null) return { items: [], nextCursor: null, hasMore: false, waiting: await this.#waiting(queue) };
      place = { deadAt, id: String(after) };
    }
    const rows = await execute<MachineRecordRow[]>(this.#em, reviewQueuePageSql(queue, limit, place));
    return { ...pageOf(rows.map(toMachineRecord), limit), waiting: await this.#waiting(queue) };
  }

  async #waiting(queue: Sql): Promise<number> {
    const [row] = await execute<{ waiting: number }[]>(this.#em, reviewQueueCountSql(queue));
    return row!.waiting;
  }

  /** One machine, deactivated or not. */
  async get(id: string): Promise<Machine> {
    const where = this.#limit === null ? { id } : { id, license: { policy: { productId: this.#limit } } };
    const machine = isUuid(id) ? await this.#em.findOne(Machine, where, { populate: ['license.policy'] }) : null;
    if (!machine) throw new MachineNotFound(id);
    return machine;
  }

  /**
   * Deactivates an active machine; with `licenseId`, only one of that license's. A machine of
   * another license is reported exactly like a missing one.
   */
  async deactivate(id: string, licenseId?: string): Promise<void> {
    if (!isUuid(id)) throw new MachineNotFound(id);
    const target = { id, licenseId, ...(this.#limit === null ? {} : { productId: this.#limit }) };
    const deactivated = await deactivateMachines(this.#em, target, 'MANUAL', this.#clock.now(), this.#actor);
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
    const immediate = immediateRefusal(license, 'heartbeat', now);
    const refusal = immediate === undefined ? await licenseRefusal(this.#lazyEm, license, 'heartbeat', now) : immediate;
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
