/**
 * A process as reads return it: a plain row with its policy's lease duration and product, what a
 * presenter needs. Processes are a hot path (every running copy spawns and heartbeats), so they
 * have no entity.
 */
import { asDate, type Sql, sql } from '../db/sql.ts';

export interface ProcessRecord {
  id: string;
  machineId: string;
  licenseId: string;
  productId: string | null;
  pid: string | null;
  metadata: Record<string, unknown>;
  lastHeartbeatAt: Date;
  createdAt: Date;
  /** The policy's `processHeartbeatDuration`, seconds. */
  heartbeatDuration: number;
}

/** The columns `toProcessRecord` reads, over a process aliased `pr` and its policy aliased `p`. */
export function processRecordColumns(pr: string, p: string): Sql {
  return sql.raw(
    `${pr}.id as pr_id, ${pr}.machine_id as pr_machine_id, ${pr}.license_id as pr_license_id, ${pr}.pid as pr_pid,
     ${pr}.metadata as pr_metadata, ${pr}.last_heartbeat_at as pr_last_heartbeat_at, ${pr}.created_at as pr_created_at,
     ${p}.product_id as p_product_id, ${p}.process_heartbeat_duration as p_process_heartbeat_duration`,
  );
}

export type ProcessRecordRow = Record<`pr_${string}` | `p_${string}`, unknown>;

export function toProcessRecord(row: ProcessRecordRow): ProcessRecord {
  return {
    id: row.pr_id as string,
    machineId: row.pr_machine_id as string,
    licenseId: row.pr_license_id as string,
    productId: (row.p_product_id as string | null) ?? null,
    pid: row.pr_pid as string | null,
    metadata: (typeof row.pr_metadata === 'string' ? JSON.parse(row.pr_metadata) : row.pr_metadata) as Record<
      string,
      unknown
    >,
    lastHeartbeatAt: asDate(row.pr_last_heartbeat_at),
    createdAt: asDate(row.pr_created_at),
    heartbeatDuration: row.p_process_heartbeat_duration as number,
  };
}
