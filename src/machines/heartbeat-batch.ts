import type { Pool } from 'pg';
import { GroupStatement } from '../db/group-statement.ts';
import { arrayLiteral, driverTemplate, isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { ActorType } from '../events/actor.ts';
import { MACHINE_EVENTS, machineJsonSql } from './events.ts';
import { heartbeatSql } from './heartbeat.ts';
import { processLeaseSql } from './process-lease.ts';

/** A heartbeat to record: the machine, the license that authenticated it, its instant. */
export interface Beat {
  id: string;
  licenseId: string;
  now: Date;
}

/** Per beat whose machine is an active one of its license: whether it was recorded. */
export interface BeatRow {
  id: string;
  /** False: the machine is past reviving (422); recorded beats return their previous heartbeat. */
  beaten: boolean;
  previous: Date;
  require_heartbeat: boolean;
  heartbeat_duration: number;
  heartbeat_resurrection_window: number;
}

/**
 * Heartbeats, any number of them (distinct machines), one statement: lock the licenses' active
 * machines in id order (so concurrent statements never deadlock), `for no key update` (so an
 * event insert's key-share check never waits for them, nor they for it), refuse those past reviving
 * (with the policy as it is now), record the beats, log the resurrections, and return per
 * machine found its previous heartbeat, which tells an alive machine from a resurrected one. A
 * machine missing from the result is not an active machine of that license. Each beat keeps its
 * own instant.
 */
export function heartbeatStatement(beats: Beat[]): Sql {
  return heartbeatStatementOf(...beatInputs(beats));
}

/** A batch's three array parameters, as array literals: ids, license ids, instants. */
function beatInputs(beats: Beat[]): [string, string, string] {
  return [
    arrayLiteral(beats.map((b) => b.id)),
    arrayLiteral(beats.map((b) => b.licenseId)),
    arrayLiteral(beats.map((b) => b.now.toISOString())),
  ];
}

function heartbeatStatementOf(ids: unknown, licenseIds: unknown, instants: unknown): Sql {
  return sql`
  with input as (
    select * from unnest(${ids}::uuid[], ${licenseIds}::uuid[], ${instants}::timestamptz[]) as i(id, license_id, now)
  ), target as (
    select m.id, m.license_id, m.last_heartbeat_at, i.now, p.require_heartbeat, p.heartbeat_duration, p.heartbeat_resurrection_window,
           p.product_id
      from input i join machines m on m.id = i.id and m.license_id = i.license_id
      join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
     where m.deleted_at is null
     order by m.id
       -- Not FOR UPDATE: a beat changes no key, and FOR UPDATE also waited for the key-share
       -- locks of the worker's event inserts, which take them in their own order (deadlock).
       for no key update of m
  ), beat as (
    update machines m set last_heartbeat_at = t.now, updated_at = t.now, dead_at = null
      from target t
     where m.id = t.id and not ${heartbeatSql.pastResurrection('t', 't', sql.raw('t.now'))}
     returning t.id, t.now, t.last_heartbeat_at, t.license_id, t.require_heartbeat, t.heartbeat_duration, t.heartbeat_resurrection_window,
               -- Only a revived machine's event needs the object; plain beats skip building it.
               case when ${heartbeatSql.status('t', 't', sql.raw('t.now'))} = 'DEAD' then ${machineJsonSql('m', 't', sql.raw('t.now'))} end as revived
  ), revived as (
    -- Only a license's key sends heartbeats, so the license is who revived its machine: the
    -- batch needs no actor of its own.
    insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
    select ${MACHINE_EVENTS.resurrected}, now, id, license_id, ${'license' satisfies ActorType}, license_id,
           json_build_object('machine', revived, 'deadSince', ${isoTimestampSql(heartbeatSql.deadline('beat', 'beat'))})
      from beat
     where revived is not null
  )
  select t.id, b.id is not null as beaten, t.last_heartbeat_at as previous,
         t.require_heartbeat, t.heartbeat_duration, t.heartbeat_resurrection_window
    from target t left join beat b on b.id = t.id`;
}

/** Per process beat whose process is one of its license's: whether its lease was still held. */
export interface ProcessBeatRow {
  id: string;
  /** False: the lease had expired (422); nothing was written. */
  beaten: boolean;
  previous: Date;
  process_heartbeat_duration: number;
}

/**
 * Process heartbeats, any number of them (distinct processes), one statement: lock the processes
 * in id order (so concurrent statements never deadlock), extend the leases that have not expired
 * (with the policy's duration as it is now), and return per process found its previous heartbeat.
 * A process missing from the result is not one of that license's. An expired lease is not
 * extended: its seat may already be another's.
 */
export function processHeartbeatStatement(beats: Beat[]): Sql {
  return processHeartbeatStatementOf(...beatInputs(beats));
}

function processHeartbeatStatementOf(ids: unknown, licenseIds: unknown, instants: unknown): Sql {
  return sql`
  with input as (
    select * from unnest(${ids}::uuid[], ${licenseIds}::uuid[], ${instants}::timestamptz[]) as i(id, license_id, now)
  ), target as (
    select pr.id, pr.last_heartbeat_at, i.now, p.process_heartbeat_duration
      from input i join processes pr on pr.id = i.id and pr.license_id = i.license_id
      join licenses l on l.id = pr.license_id join policies p on p.id = l.policy_id
     order by pr.id
       for no key update of pr
  ), beat as (
    update processes pr set last_heartbeat_at = t.now
      from target t
     where pr.id = t.id and not ${processLeaseSql.expired('t', 't', sql.raw('t.now'))}
     returning t.id
  )
  select t.id, b.id is not null as beaten, t.last_heartbeat_at as previous, t.process_heartbeat_duration
    from target t left join beat b on b.id = t.id`;
}

/**
 * Group commit for heartbeats: while one statement is being written, the next beats collect,
 * and go as one statement (one commit, one WAL flush) when it returns. A beat that finds nothing
 * in flight goes at once, so a quiet server adds no latency. Each beat gets its own outcome, as
 * if it had been written alone: a machine is never twice in one statement (a second beat of it
 * waits for the next), so each sees the one before it.
 */
export class HeartbeatBatcher {
  readonly #group: GroupStatement<Beat, BeatRow | undefined>;
  readonly #processes: GroupStatement<Beat, ProcessBeatRow | undefined>;

  /**
   * `pool`: the driver's pool. The statement is prepared once per connection: its text never
   * changes, only its array parameters, so PostgreSQL parses and plans it once, not per batch.
   */
  constructor(pool: Pool, options: { maxBatch?: number } = {}) {
    const machines = driverTemplate(heartbeatStatementOf, 3);
    const processes = driverTemplate(processHeartbeatStatementOf, 3);
    this.#group = new GroupStatement(
      async (beats) => {
        const { text, values } = machines(...beatInputs(beats));
        const { rows } = await pool.query<BeatRow>({ name: 'licentric_heartbeats', text, values });
        const byId = new Map(rows.map((row) => [row.id, row]));
        return beats.map((beat) => byId.get(beat.id));
      },
      { maxBatch: options.maxBatch ?? 500, keyOf: (beat) => beat.id },
    );
    // Processes beat more often than machines (minutes, not days); their beats group the same way,
    // in a statement of their own, so the machines' prepared statement stays as it was.
    this.#processes = new GroupStatement(
      async (beats) => {
        const { text, values } = processes(...beatInputs(beats));
        const { rows } = await pool.query<ProcessBeatRow>({ name: 'licentric_process_heartbeats', text, values });
        const byId = new Map(rows.map((row) => [row.id, row]));
        return beats.map((beat) => byId.get(beat.id));
      },
      { maxBatch: options.maxBatch ?? 500, keyOf: (beat) => beat.id },
    );
  }

  /** The process beat's row, or undefined when the process is not one of the license's. */
  beatProcess(beat: Beat): Promise<ProcessBeatRow | undefined> {
    return this.#processes.submit({ ...beat, id: beat.id.toLowerCase() });
  }

  /** The beat's row, or undefined when the machine is no active machine of the license. */
  beat(beat: Beat): Promise<BeatRow | undefined> {
    return this.#group.submit({ ...beat, id: beat.id.toLowerCase() });
  }

  /**
   * Resolves once every beat queued so far is written and answered: a stopping server waits for
   * this before it closes the pool, so no beat it accepted is cut off mid-statement.
   */
  async flush(): Promise<void> {
    await Promise.all([this.#group.flush(), this.#processes.flush()]);
  }
}
