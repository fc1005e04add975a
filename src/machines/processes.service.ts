import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  LicenseNotFound,
  MachineNotFound,
  ProcessHeartbeatDead,
  ProcessLimitExceeded,
  ProcessNotFound,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Lazy } from '../core/lazy.ts';
import type { Page, PageQuery } from '../core/pagination.ts';
import { Checks } from '../core/validation.ts';
import { keysetPage } from '../db/keyset.ts';
import { execute, maybeDate, type Sql, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql } from '../events/actor.ts';
import { immediateRefusal, licenseRefusal } from '../licenses/access.ts';
import type { LicenseRecord } from '../licenses/license-record.ts';
import { refusalOf } from '../licenses/status.ts';
import type { ExpirationStrategy, ProcessLeasingStrategy } from '../policies/policy.entity.ts';
import { PROCESS_EVENTS, processJsonSql, releaseProcessesSql } from './events.ts';
import { type HeartbeatBatcher, type ProcessBeatRow, processHeartbeatStatement } from './heartbeat-batch.ts';
import { foldLicenseProcesses, licenseProcessCountSql, machineProcessCountSql } from './process-count.ts';
import { leaseExpiresAt, processLeaseSql } from './process-lease.ts';
import { type ProcessRecord, type ProcessRecordRow, processRecordColumns, toProcessRecord } from './process-record.ts';

export interface SpawnProcessInput {
  pid?: string;
  metadata?: Record<string, unknown>;
}

export interface ListProcessesQuery extends PageQuery {
  licenseId?: string;
  machineId?: string;
}

export interface ProcessHeartbeatResult {
  id: string;
  lastHeartbeatAt: Date;
  nextHeartbeatAt: Date;
}

/** What a spawn reads of its license and policy, under the license row lock. */
interface SpawnLicenseRow {
  suspended_at: Date | null;
  expires_at: Date | null;
  policy_id: string;
  max_processes: number | null;
  process_leasing_strategy: ProcessLeasingStrategy;
  process_heartbeat_duration: number;
  expiration_strategy: ExpirationStrategy;
}

/**
 * Processes: leases on concurrent seats, held by running copies of the software on a license's
 * active machines. Part of the licenses/machines aggregate: a spawn is limited under the license's
 * row lock, as an activation is, and a machine's deactivation releases its processes.
 */
export class ProcessesService {
  readonly #lazyEm: Lazy<EntityManager>;
  /** The unit of work's EntityManager, forked when first needed (`Lazy`). */
  get #em(): EntityManager {
    return this.#lazyEm.value;
  }
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #heartbeats: HeartbeatBatcher | undefined;
  readonly #limit: string | null;

  /**
   * `heartbeats`: the server's group commit; without it each heartbeat is its own statement.
   * `limit`: the one product an API key is limited to; other processes are not found for it.
   */
  constructor(
    em: EntityManager | Lazy<EntityManager>,
    clock: Clock,
    actor: Actor | null,
    heartbeats?: HeartbeatBatcher,
    limit: string | null = null,
  ) {
    this.#lazyEm = Lazy.from(em);
    this.#clock = clock;
    this.#actor = actor;
    this.#heartbeats = heartbeats;
    this.#limit = limit;
  }

  /**
   * Spawns a process on an active machine of the license. The license row is locked for the
   * length of the transaction, so concurrent spawns of one license (on any of its machines) run
   * one after another and each sees the count the previous one left: the limit cannot be raced,
   * under either strategy. `for no key update`, not activation's `for update`: it still excludes
   * other spawns and activations, but not the key-share locks that the count triggers' inserts
   * take on the license, so a deactivation or cull holding machine rows this spawn's fold updates
   * never waits for the spawn (that wait closed a deadlock). The machine row is held `for share`, so a deactivation of it waits for
   * the spawn and then releases the new process with the others, or runs first and the spawn finds
   * no machine. A lease that has expired holds no seat: when the count reaches the limit, the
   * expired leases in its scope are released (`HEARTBEAT_DEAD`) and none is counted.
   * Locks are taken license, machine, processes, the order of every other writer.
   */
  async spawn(licenseId: string, machineId: string, input: SpawnProcessInput): Promise<ProcessRecord> {
    if (!isUuid(machineId)) throw new MachineNotFound(machineId);
    const checks = new Checks();
    checks.text('/pid', input.pid, { min: 1, max: 255 });
    checks.metadata('/metadata', input.metadata);
    checks.throwIfAny();
    const machine = machineId.toLowerCase();

    return this.#em.transactional(async (em) => {
      const now = this.#clock.now();
      const [license] = await execute<SpawnLicenseRow[]>(
        em,
        sql`select l.suspended_at, l.expires_at, l.policy_id, p.max_processes, p.process_leasing_strategy,
                   p.process_heartbeat_duration, p.expiration_strategy
              from licenses l join policies p on p.id = l.policy_id
             where l.id = ${licenseId} and l.deleted_at is null
               for no key update of l`,
      );
      if (!license) throw new LicenseNotFound(licenseId);
      // Another license's machine stays a 404 even to a suspended license: no hint it exists.
      const [held] = await execute<{ id: string }[]>(
        em,
        sql`select id from machines where id = ${machine} and license_id = ${licenseId} and deleted_at is null for share`,
      );
      if (!held) throw new MachineNotFound(machineId);
      // A running copy keeps running where an expired MAINTAIN_ACCESS license is installed: the
      // rule of heartbeats, not of activations.
      const refusal = refusalOf(
        { suspendedAt: maybeDate(license.suspended_at), expiresAt: maybeDate(license.expires_at) },
        license.expiration_strategy,
        'heartbeat',
        now,
      );
      if (refusal !== null) throw refusal;

      const counts = await foldLicenseProcesses(em, licenseId, machine);
      const max = license.max_processes;
      if (max !== null) {
        const perLicense = license.process_leasing_strategy === 'PER_LICENSE';
        const scope = perLicense ? sql`pr.license_id = ${licenseId}` : sql`pr.machine_id = ${machine}`;
        let held = perLicense ? counts.license : counts.machine;
        if (held >= max) {
          // SKIP LOCKED: a lease another transaction holds is being released by it (a
          // deactivation, a cull, a release) or refused a heartbeat; waiting for it could close a
          // cycle with one that waits for a row this statement took. It is not counted either:
          // no heartbeat extends an expired lease, so it can only go.
          const inScope = perLicense ? sql`x.license_id = ${licenseId}` : sql`x.machine_id = ${machine}`;
          const lapsed = sql`x.last_heartbeat_at <= ${now}::timestamptz - make_interval(secs => ${license.process_heartbeat_duration}::int)`;
          const expired = sql`pr.id in (select x.id from processes x where ${inScope} and ${lapsed} for update skip locked)`;
          // The count and the expired leases read in this statement's snapshot, which agree: a
          // release committed while the fold waited for a machine row is in both. Not a second
          // fold: that would update machine rows after taking process rows, the reverse of a
          // deactivation's order.
          const current = perLicense
            ? sql`(select ${licenseProcessCountSql('l')} from licenses l where l.id = ${licenseId})`
            : sql`(select ${machineProcessCountSql('m')} from machines m where m.id = ${machine})`;
          const [reaped] = await execute<{ held: number }[]>(
            em,
            sql`with ${releaseProcessesSql('reaped', null, sql`${expired} and ${processLeaseSql.expired('pr', 'rp', now)}`, 'HEARTBEAT_DEAD', now, this.#actor)}
                select (select count(*) from reaped_logged) as released,
                       (${current} - (select count(*) from processes x where ${inScope} and ${lapsed}))::int as held`,
          );
          held = reaped!.held;
        }
        if (held >= max) {
          const [oldest] = await execute<{ at: Date | string | null }[]>(
            em,
            sql`select min(pr.last_heartbeat_at) as at from processes pr where ${scope}`,
          );
          const since = maybeDate(oldest?.at) ?? now;
          throw new ProcessLimitExceeded(
            perLicense ? 'license' : 'machine',
            held,
            max,
            leaseExpiresAt(since, license.process_heartbeat_duration),
          );
        }
      }

      const [row] = await execute<ProcessRecordRow[]>(
        em,
        sql`with pr as (
              insert into processes (id, machine_id, license_id, pid, metadata, last_heartbeat_at, created_at)
              values (${uuidv7()}, ${machine}, ${licenseId}, ${input.pid ?? null}, ${JSON.stringify(input.metadata ?? {})}::json, ${now}, ${now})
              returning *
            ), spawned as (
              insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
              select ${PROCESS_EVENTS.spawned}, ${now}, pr.machine_id, pr.license_id, ${actorValuesSql(this.#actor)}, json_build_object('process', ${processJsonSql('pr', 'p', now)})
                from pr join policies p on p.id = ${license.policy_id})
            select ${processRecordColumns('pr', 'p')} from pr join policies p on p.id = ${license.policy_id}`,
      );
      return toProcessRecord(row!);
    });
  }

  /** Processes in id order (UUIDv7: spawn order), one page after `cursor`: one statement. */
  async list(query: ListProcessesQuery): Promise<Page<ProcessRecord>> {
    const where: Sql[] = [];
    if (query.licenseId !== undefined) where.push(sql`pr.license_id = ${query.licenseId}`);
    if (query.machineId !== undefined) where.push(sql`pr.machine_id = ${query.machineId}`);
    if (this.#limit !== null) where.push(sql`p.product_id = ${this.#limit}`);
    return keysetPage(
      this.#em,
      {
        select: sql`select ${processRecordColumns('pr', 'p')}
                      from processes pr join licenses l on l.id = pr.license_id join policies p on p.id = l.policy_id`,
        where,
        key: 'pr.id',
        map: toProcessRecord,
      },
      query,
    );
  }

  async get(id: string): Promise<ProcessRecord> {
    if (!isUuid(id)) throw new ProcessNotFound(id);
    const [row] = await execute<ProcessRecordRow[]>(
      this.#em,
      sql`select ${processRecordColumns('pr', 'p')}
            from processes pr join licenses l on l.id = pr.license_id join policies p on p.id = l.policy_id
           where pr.id = ${id} ${this.#limit === null ? sql`` : sql`and p.product_id = ${this.#limit}`}`,
    );
    if (!row) throw new ProcessNotFound(id);
    return toProcessRecord(row);
  }

  /**
   * Releases a process at once, with its event, in one statement; with `licenseId`, only one of
   * that license's. Another license's or product's process is reported exactly like a missing one.
   */
  async release(id: string, licenseId?: string): Promise<void> {
    if (!isUuid(id)) throw new ProcessNotFound(id);
    const conditions: Sql[] = [sql`pr.id = ${id}`];
    if (licenseId !== undefined) conditions.push(sql`pr.license_id = ${licenseId}`);
    if (this.#limit !== null) conditions.push(sql`rp.product_id = ${this.#limit}`);
    const [row] = await execute<{ released: number }[]>(
      this.#em,
      sql`with ${releaseProcessesSql('released', null, sql.join(conditions, ' and '), 'DEACTIVATED', this.#clock.now(), this.#actor)}
          select count(*)::int as released from released_logged`,
    );
    if (row!.released === 0) throw new ProcessNotFound(id);
  }

  /**
   * Extends the lease of one of the license's processes, through the server's group commit. An
   * expired lease is not extended (`PROCESS_HEARTBEAT_DEAD`): its seat may be another's by now.
   */
  async heartbeat(id: string, license: LicenseRecord): Promise<ProcessHeartbeatResult> {
    if (!isUuid(id)) throw new ProcessNotFound(id);
    const now = this.#clock.now();
    const immediate = immediateRefusal(license, 'heartbeat', now);
    const refusal = immediate === undefined ? await licenseRefusal(this.#lazyEm, license, 'heartbeat', now) : immediate;
    if (refusal !== null) {
      const [found] = await execute<{ id: string }[]>(
        this.#em,
        sql`select id from processes where id = ${id} and license_id = ${license.id}`,
      );
      if (!found) throw new ProcessNotFound(id);
      throw refusal;
    }
    const beat = { id, licenseId: license.id, now };
    const row = this.#heartbeats
      ? await this.#heartbeats.beatProcess(beat)
      : (await execute<ProcessBeatRow[]>(this.#em, processHeartbeatStatement([beat])))[0];
    if (row === undefined) throw new ProcessNotFound(id);
    if (!row.beaten)
      throw new ProcessHeartbeatDead(leaseExpiresAt(new Date(row.previous), row.process_heartbeat_duration));
    return {
      id: id.toLowerCase(),
      lastHeartbeatAt: now,
      nextHeartbeatAt: leaseExpiresAt(now, row.process_heartbeat_duration),
    };
  }
}
