import { asDate, sql } from '../db/sql.ts';
import type { EventType } from './types.ts';

/** An event as the log holds it. Ids are the log's bigint identity, as decimal strings. */
export interface EventRecord {
  id: string;
  type: EventType;
  occurredAt: Date;
  licenseId: string | null;
  machineId: string | null;
  data: Record<string, unknown>;
}

/** The columns `toEventRecord` reads, from `events`. */
export const eventRecordColumns = sql`id, type, occurred_at, license_id, machine_id, data`;

export interface EventRecordRow {
  /** A bigint, which the driver hands over as text. */
  id: string | number | bigint;
  type: string;
  occurred_at: unknown;
  license_id: string | null;
  machine_id: string | null;
  data: unknown;
}

export function toEventRecord(row: EventRecordRow): EventRecord {
  return {
    id: String(row.id),
    type: row.type as EventType,
    occurredAt: asDate(row.occurred_at),
    licenseId: row.license_id,
    machineId: row.machine_id,
    data: (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as Record<string, unknown>,
  };
}
