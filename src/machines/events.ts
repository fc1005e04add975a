/**
 * The events machines produce and the machine as they carry it. The object is rendered by
 * PostgreSQL as the API's presenter renders it (src/http/presenters.ts), so that statements
 * which change many machines at once (culling, deactivating a license's machines) write each
 * event with its object in the same statement; test/events.test.ts holds it equal to what the
 * API answers at that instant.
 */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql } from '../events/actor.ts';
import type { EventType } from '../events/types.ts';
import { heartbeatSql } from './heartbeat.ts';
import { processLeaseSql } from './process-lease.ts';

export const MACHINE_EVENTS = {
  /** A machine stopped counting: `data.reason` is MANUAL, HEARTBEAT_DEAD or LICENSE_DELETED. */
  deactivated: 'machine.deactivated',
  /** The worker found a KEEP_DEAD machine dead; it stays active for review. */
  heartbeatDead: 'machine.heartbeat.dead',
  /** A heartbeat revived a dead machine inside its resurrection window. */
  resurrected: 'machine.heartbeat.resurrected',
} as const satisfies Record<string, EventType>;

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A machine row aliased `m` with its policy's heartbeat settings under alias `p`, at `now` (an instant or a column). */
export function machineJsonSql(m: string, p: string, now: Date | Sql): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(m)}.id, 'licenseId', ${sql.raw(m)}.license_id, 'productId', ${sql.raw(p)}.product_id, 'fingerprint', ${sql.raw(m)}.fingerprint,
    'name', ${sql.raw(m)}.name, 'platform', ${sql.raw(m)}.platform, 'hostname', ${sql.raw(m)}.hostname, 'cores', ${sql.raw(m)}.cores,
    'lastHeartbeatAt', ${iso(`${m}.last_heartbeat_at`)}, 'createdAt', ${iso(`${m}.created_at`)},
    'updatedAt', ${iso(`${m}.updated_at`)}, 'deletedAt', ${iso(`${m}.deleted_at`)}, 'metadata', ${sql.raw(m)}.metadata,
    'heartbeatStatus', ${heartbeatSql.status(m, p, now)},
    'nextHeartbeatAt', case when ${sql.raw(p)}.require_heartbeat then ${isoTimestampSql(heartbeatSql.deadline(m, p))} end,
    'deactivationReason', ${sql.raw(m)}.deactivation_reason)`;
}

// Processes: concurrent seats (issue 20).
export const PROCESS_EVENTS = {
  /** A process took a seat. */
  spawned: 'process.spawned',
  /** A process gave its seat up: `data.reason` is DEACTIVATED, HEARTBEAT_DEAD or MACHINE_DEACTIVATED. */
  released: 'process.released',
} as const satisfies Record<string, EventType>;

export type ProcessReleaseReason = 'DEACTIVATED' | 'HEARTBEAT_DEAD' | 'MACHINE_DEACTIVATED';

/**
 * A process row aliased `pr`, with `product_id` and `process_heartbeat_duration` under alias `p`
 * (its policy, or a row that returned them under those names), at `now`.
 */
export function processJsonSql(pr: string, p: string, now: Date | Sql): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(pr)}.id, 'machineId', ${sql.raw(pr)}.machine_id, 'licenseId', ${sql.raw(pr)}.license_id,
    'productId', ${sql.raw(p)}.product_id, 'pid', ${sql.raw(pr)}.pid, 'metadata', ${sql.raw(pr)}.metadata,
    'lastHeartbeatAt', ${iso(`${pr}.last_heartbeat_at`)},
    'heartbeatStatus', ${processLeaseSql.status(pr, p, now)},
    'nextHeartbeatAt', ${isoTimestampSql(processLeaseSql.expiresAt(pr, p))},
    'createdAt', ${iso(`${pr}.created_at`)})`;
}

/**
 * Three CTEs, to follow others in a `with`: `<name>_locked` locks, `<name>` releases (deletes) the processes `where` picks
 * among `processes pr` (joined to `using`, if given; its license `rl` and policy `rp`), and `<name>_logged` writes each one's `process.released`
 * event, caused by `actor`. A deleted row is released by this statement alone: a concurrent release of it finds
 * nothing to delete, so each process is released, and logged, once.
 */
export function releaseProcessesSql(
  name: string,
  using: Sql | null,
  where: Sql,
  reason: ProcessReleaseReason,
  now: Date,
  actor: Actor | null,
): Sql {
  const cte = sql.raw(name);
  const locked = sql.raw(`${name}_locked`);
  // Taken in id order first, as process heartbeat statements take theirs. Deleted in the join's
  // order, a machine's processes could be held in an order that closed a cycle with a heartbeat
  // statement holding some of them (40P01; test/heartbeats.test.ts).
  return sql`${locked} as materialized (
    select pr.id from processes pr join licenses rl on rl.id = pr.license_id join policies rp on rp.id = rl.policy_id
           ${using === null ? sql`` : sql`cross join ${using}`}
     where ${where}
     order by pr.id
       for update of pr
  ), ${cte} as (
    delete from processes pr using licenses rl, policies rp
     where pr.id in (select id from ${locked}) and rl.id = pr.license_id and rp.id = rl.policy_id
    returning pr.*, rp.product_id, rp.process_heartbeat_duration
  ), ${sql.raw(`${name}_logged`)} as (
    insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
    select ${PROCESS_EVENTS.released}, ${now}, r.machine_id, r.license_id, ${actorValuesSql(actor)},
           json_build_object('process', ${processJsonSql('r', 'r', now)}, 'reason', ${reason}::text)
      from ${cte} r
    returning 1
  )`;
}
