import { asDate, sql } from '../db/sql.ts';
import type { Actor } from './actor.ts';
import type { EventType } from './types.ts';

/** An event as the log holds it. Ids are the log's bigint identity, as decimal strings. */
export interface EventRecord {
  id: string;
  type: EventType;
  occurredAt: Date;
  licenseId: string | null;
  machineId: string | null;
  /** Who caused it; null for events written before the server recorded actors. */
  actor: Actor | null;
  data: Record<string, unknown>;
}

/** The columns `toEventRecord` reads, from `events`. */
export const eventRecordColumns = sql`id, type, occurred_at, license_id, machine_id, actor_type, actor_id, data`;

export interface EventRecordRow {
  /** A bigint, which the driver hands over as text. */
  id: string | number | bigint;
  type: string;
  occurred_at: unknown;
  license_id: string | null;
  machine_id: string | null;
  actor_type: string | null;
  actor_id: string | null;
  data: unknown;
}

export function toEventRecord(row: EventRecordRow): EventRecord {
  return {
    id: String(row.id),
    type: row.type as EventType,
    occurredAt: asDate(row.occurred_at),
    licenseId: row.license_id,
    machineId: row.machine_id,
    // The table's check holds the pair to one of the Actor shapes.
    actor: row.actor_type === null ? null : ({ type: row.actor_type, id: row.actor_id } as Actor),
    data: (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as Record<string, unknown>,
  };
}
