import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql, type Sql } from '../db/sql.ts';
import { machineJsonSql } from '../events/objects.ts';
import { isoTimestampSql, MACHINE_EVENTS } from './events.ts';
import { heartbeatSql } from './heartbeat.ts';

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
 * machines in id order (so concurrent statements never deadlock), refuse those past reviving
 * (with the policy as it is now), record the beats, log the resurrections, and return per
 * machine found its previous heartbeat, which tells an alive machine from a resurrected one. A
 * machine missing from the result is not an active machine of that license. Each beat keeps its
 * own instant.
 */
export function heartbeatStatement(beats: Beat[]): Sql {
  // Array literals, not parameter lists: the ids are checked UUIDs, the instants ISO strings.
  const array = (items: string[]) => `{${items.join(',')}}`;
  return sql`
  with input as (
    select * from unnest(${array(beats.map((b) => b.id))}::uuid[], ${array(beats.map((b) => b.licenseId))}::uuid[],
                         ${array(beats.map((b) => b.now.toISOString()))}::timestamptz[]) as i(id, license_id, now)
  ), target as (
    select m.id, m.license_id, m.last_heartbeat_at, i.now, p.require_heartbeat, p.heartbeat_duration, p.heartbeat_resurrection_window
      from input i join machines m on m.id = i.id and m.license_id = i.license_id
      join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
     where m.deleted_at is null
     order by m.id
       for update of m
  ), beat as (
    update machines m set last_heartbeat_at = t.now, updated_at = t.now, dead_at = null
      from target t
     where m.id = t.id and not ${heartbeatSql.pastResurrection('t', 't', sql.raw('t.now'))}
     returning t.id, t.now, t.last_heartbeat_at, t.license_id, t.require_heartbeat, t.heartbeat_duration, t.heartbeat_resurrection_window,
               -- Only a revived machine's event needs the object; plain beats skip building it.
               case when ${heartbeatSql.status('t', 't', sql.raw('t.now'))} = 'DEAD' then ${machineJsonSql('m', 't', sql.raw('t.now'))} end as revived
  ), revived as (
    insert into events (type, occurred_at, machine_id, license_id, data)
    select ${MACHINE_EVENTS.resurrected}, now, id, license_id,
           json_build_object('machine', revived, 'deadSince', ${isoTimestampSql(heartbeatSql.deadline('beat', 'beat'))})
      from beat
     where revived is not null
  )
  select t.id, b.id is not null as beaten, t.last_heartbeat_at as previous,
         t.require_heartbeat, t.heartbeat_duration, t.heartbeat_resurrection_window
    from target t left join beat b on b.id = t.id`;
}


interface Waiting {
  beat: Beat;
  resolve: (row: BeatRow | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for heartbeats: while one statement is being written, the next beats collect,
 * and go as one statement (one commit, one WAL flush) when it returns. A beat that finds nothing
 * in flight goes at once, so a quiet server adds no latency. Each beat gets its own outcome, as
 * if it had been written alone: a machine is never twice in one statement (a second beat of it
 * waits for the next), so each sees the one before it.
 */
export class HeartbeatBatcher {
  readonly #em: () => EntityManager;
  readonly #maxBatch: number;
  #queue: Waiting[] = [];
  #writing = false;
  #draining: Promise<void> | undefined;

  /** `em`: a fresh EntityManager per statement. */
  constructor(em: () => EntityManager, options: { maxBatch?: number } = {}) {
    this.#em = em;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  /** The beat's row, or undefined when the machine is no active machine of the license. */
  beat(beat: Beat): Promise<BeatRow | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ beat: { ...beat, id: beat.id.toLowerCase() }, resolve, reject });
      if (!this.#writing) this.#draining = this.#drain();
    });
  }

  /**
   * Resolves once every beat queued so far is written and answered: a stopping server waits for
   * this before it closes the pool, so no beat it accepted is cut off mid-statement.
   */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = new Map<string, Waiting>();
        const later: Waiting[] = [];
        for (const waiting of this.#queue) {
          if (batch.size < this.#maxBatch && !batch.has(waiting.beat.id)) batch.set(waiting.beat.id, waiting);
          else later.push(waiting);
        }
        this.#queue = later;
        await this.#write([...batch.values()]);
      }
    } finally {
      this.#writing = false;
      this.#draining = undefined;
    }
  }

  async #write(batch: Waiting[]): Promise<void> {
    try {
      const rows = await execute<BeatRow[]>(this.#em(), heartbeatStatement(batch.map((w) => w.beat)));
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const waiting of batch) waiting.resolve(byId.get(waiting.beat.id));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
}
