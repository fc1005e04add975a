/**
 * The events machines produce and the machine as they carry it. The object is rendered by
 * PostgreSQL as the API's presenter renders it (src/http/presenters.ts), so that statements
 * which change many machines at once (culling, deactivating a license's machines) write each
 * event with its object in the same statement; test/events.test.ts holds it equal to what the
 * API answers at that instant.
 */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { EventType } from '../events/types.ts';
import { heartbeatSql } from './heartbeat.ts';

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
