import { setTimeout as delay } from 'node:timers/promises';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { execute, isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import { actorValuesSql, WORKER_ACTOR } from '../events/actor.ts';
import type { Logger } from '../log.ts';
import { MACHINE_EVENTS, machineJsonSql, releaseProcessesSql } from './events.ts';
import { heartbeatSql } from './heartbeat.ts';
import { foldMachineCounts } from './machine-count.ts';

export interface CullOptions {
  /** Machines claimed per statement: small enough that no lock is held long. */
  batchSize?: number;
  /**
   * Machines a statement reads at most, walking the primary key: however few are dead, no
   * statement reads the whole table (at 10 000 000 machines one took ~8 s of the 10 s statement
   * timeout), so a pass's statements stay short at any fleet size.
   */
  scanWindow?: number;
  /**
   * After each statement the pass waits this percent of the statement's time
   * (`LICENTRIC_WORKER_YIELD_PERCENT`): a pass reads the whole table, which at 10 000 000 machines
   * keeps one database core busy for seconds, and on a database that also answers requests the
   * wait leaves them that core part of the time (100: half; 0: none, the shortest pass).
   */
  yieldPercent?: number;
  /** Stops the pass between statements (a stopping worker); the next pass starts over. */
  signal?: AbortSignal;
  /** How the pass waits between statements: a timer the signal cuts short, unless a test replaces it. */
  wait?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

/** Half of one core at most, on a busy database; a 10 000 000-machine pass takes about twice as long. */
export const DEFAULT_YIELD_PERCENT = 100;

const timerWait = (ms: number, signal: AbortSignal | undefined) =>
  delay(ms, undefined, { signal }).catch(() => {
    // Aborted: the pass checks the signal itself.
  });

export interface CullResult {
  deactivated: number;
  markedDead: number;
  batches: number;
  ms: number;
  /** False when the signal stopped the pass before the end of the table. */
  complete: boolean;
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/**
 * One batch, one statement: claim up to `limit` machines that are dead and past reviving
 * (`heartbeatSql.pastResurrection`, the rule heartbeat.ts states for reads), walking the primary
 * key from `after`, then act and log in the same statement.
 *
 * The claim is `FOR UPDATE … SKIP LOCKED`: another worker's claimed rows are skipped, not
 * waited for, and a row PostgreSQL must re-read because it changed since the statement began (a
 * heartbeat committed meanwhile) is checked against the rule again before it is claimed. A
 * machine that heartbeats during a pass is therefore never culled, and two workers never act on
 * the same machine: once one commits, the machine no longer matches (deactivated, or `dead_at`
 * set) for the other.
 */
function cullBatch(after: string, now: Date, limit: number, window: number): Sql {
  return sql`
  with bound as (
    -- The last machine of this statement's window (null: fewer remain), read from the primary key alone.
    select (select id from machines where id > ${after} order by id offset ${window - 1} limit 1) as last
  ), claimed as (
    select m.id, m.license_id, l.policy_id, p.heartbeat_cull_strategy as strategy,
           ${heartbeatSql.deadline('m', 'p')} as died_at
      from machines m
      join licenses l on l.id = m.license_id
      join policies p on p.id = l.policy_id
     where m.id > ${after}
       and m.id <= coalesce((select last from bound), ${MAX_UUID})
       and m.deleted_at is null
       and ${heartbeatSql.mayBePastResurrection('m', now)}
       and ${heartbeatSql.pastResurrection('m', 'p', now)}
       and (p.heartbeat_cull_strategy = 'DEACTIVATE_DEAD' or m.dead_at is null)
     order by m.id
     limit ${limit}
       for update of m skip locked
  ), culled as (
    update machines m
       set deleted_at = case when c.strategy = 'DEACTIVATE_DEAD' then ${now}::timestamptz else null end,
           deactivation_reason = case when c.strategy = 'DEACTIVATE_DEAD' then 'HEARTBEAT_DEAD' else null end,
           dead_at = c.died_at,
           updated_at = ${now}
      from claimed c join policies p on p.id = c.policy_id
     -- The array lookup keeps the join on the primary key: on smaller tables the planner would
     -- otherwise hash-join each batch against a scan of every machine (bench/README.md).
     where m.id = c.id and m.id = any(array(select id from claimed))
    returning m.id, m.license_id, m.cores, c.strategy, c.died_at, ${machineJsonSql('m', 'p', now)} as machine
  ), counted as (
    -- The count trigger leaves culls to this: one delta per license and batch, not per machine.
    insert into machine_count_deltas (license_id, delta, core_delta)
    select license_id, -count(*), -sum(coalesce(cores, 1)) from culled where strategy = 'DEACTIVATE_DEAD' group by license_id
  ), ${releaseProcessesSql('released', sql`culled c`, sql`pr.machine_id = c.id and c.strategy = 'DEACTIVATE_DEAD'`, 'MACHINE_DEACTIVATED', now, WORKER_ACTOR)},
  logged as (
    insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
    select case when strategy = 'DEACTIVATE_DEAD' then ${MACHINE_EVENTS.deactivated} else ${MACHINE_EVENTS.heartbeatDead} end, ${now}, id, license_id,
           ${actorValuesSql(WORKER_ACTOR)},
           case when strategy = 'DEACTIVATE_DEAD'
                then json_build_object('machine', machine, 'reason', 'HEARTBEAT_DEAD', 'diedAt', ${isoTimestampSql(sql.raw('died_at'))})
                else json_build_object('machine', machine, 'diedAt', ${isoTimestampSql(sql.raw('died_at'))}) end
      from culled
    returning type
  )
  select (select count(*) from claimed)::int as claimed,
         (select max(id::text) from claimed) as last_id,
         (select last from bound) as window_end,
         (select count(*) from logged where type = ${MACHINE_EVENTS.deactivated})::int as deactivated,
         (select count(*) from logged where type = ${MACHINE_EVENTS.heartbeatDead})::int as marked_dead`;
}

/**
 * One culling pass: every machine that is dead and past its resurrection window, in batches.
 * `DEACTIVATE_DEAD` machines are soft-deleted (`deactivationReason: HEARTBEAT_DEAD`);
 * `KEEP_DEAD` machines stay active with their death time recorded once. Each writes one event.
 */
export async function cullPass(
  em: EntityManager,
  clock: Clock,
  log: Logger,
  options: CullOptions = {},
): Promise<CullResult> {
  const batchSize = options.batchSize ?? 1000;
  const scanWindow = Math.max(options.scanWindow ?? 50_000, batchSize);
  const yieldShare = (options.yieldPercent ?? DEFAULT_YIELD_PERCENT) / 100;
  const wait = options.wait ?? timerWait;
  const { signal } = options;
  const started = process.hrtime.bigint();
  // One instant for the whole pass, so a pass's verdicts are consistent with each other.
  const now = clock.now();
  const result = { deactivated: 0, markedDead: 0, batches: 0, complete: false };
  let after = ZERO_UUID;
  while (!signal?.aborted) {
    const statementStarted = performance.now();
    const [row] = await execute<
      { claimed: number; last_id: string | null; window_end: string | null; deactivated: number; marked_dead: number }[]
    >(em, cullBatch(after, now, batchSize, scanWindow));
    result.batches += 1;
    result.deactivated += row!.deactivated;
    result.markedDead += row!.marked_dead;
    // A full batch may have left more of its window unread; otherwise the window is done.
    if (row!.claimed === batchSize && row!.last_id !== null) after = row!.last_id;
    else if (row!.window_end === null) {
      result.complete = true;
      break;
    } else after = row!.window_end;
    if (yieldShare > 0) await wait((performance.now() - statementStarted) * yieldShare, signal);
  }
  // The pass wrote a count delta per deactivated machine; folding them keeps counts one row deep.
  await foldMachineCounts(em);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log.info(
    { ...result, ms },
    `cull pass deactivated=${result.deactivated} marked_dead=${result.markedDead} batches=${result.batches} duration_ms=${ms.toFixed(1)}${result.complete ? '' : ' stopped before the end'}`,
  );
  return { ...result, ms };
}
