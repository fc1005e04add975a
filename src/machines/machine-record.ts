/**
 * A machine as the hot reads return it: a plain row with its policy's heartbeat settings, what
 * a presenter needs, without the ORM's entity hydration and identity map, which cost a page of
 * machines far more CPU than the statement (bench/README.md).
 */
import { asDate, maybeDate, type Sql, sql } from '../db/sql.ts';
import type { HeartbeatPolicy } from './heartbeat.ts';
import type { Machine } from './machine.entity.ts';

export type MachineRecord = Pick<
  Machine,
  | 'id'
  | 'fingerprint'
  | 'name'
  | 'platform'
  | 'hostname'
  | 'cores'
  | 'metadata'
  | 'lastHeartbeatAt'
  | 'createdAt'
  | 'updatedAt'
  | 'deletedAt'
  | 'deactivationReason'
> & { license: { id: string; policy: HeartbeatPolicy & { productId?: string | null } } };

/** The columns `toMachineRecord` reads, over a machine aliased `m` and its policy aliased `p`. */
export function machineRecordColumns(m: string, p: string): Sql {
  return sql.raw(
    `${m}.id as m_id, ${m}.license_id as m_license_id, ${m}.fingerprint as m_fingerprint, ${m}.name as m_name,
     ${m}.platform as m_platform, ${m}.hostname as m_hostname, ${m}.cores as m_cores, ${m}.metadata as m_metadata,
     ${m}.last_heartbeat_at as m_last_heartbeat_at, ${m}.created_at as m_created_at, ${m}.updated_at as m_updated_at,
     ${m}.deleted_at as m_deleted_at, ${m}.deactivation_reason as m_deactivation_reason,
     ${p}.require_heartbeat as p_require_heartbeat, ${p}.heartbeat_duration as p_heartbeat_duration,
     ${p}.heartbeat_resurrection_window as p_heartbeat_resurrection_window, ${p}.product_id as p_product_id`,
  );
}

export type MachineRecordRow = Record<`m_${string}` | `p_${string}`, unknown>;

export function toMachineRecord(row: MachineRecordRow): MachineRecord {
  return {
    id: row.m_id as string,
    fingerprint: row.m_fingerprint as string,
    name: row.m_name as string | null,
    platform: row.m_platform as MachineRecord['platform'],
    hostname: row.m_hostname as string | null,
    cores: row.m_cores as number | null,
    metadata: (typeof row.m_metadata === 'string' ? JSON.parse(row.m_metadata) : row.m_metadata) as Record<
      string,
      unknown
    >,
    lastHeartbeatAt: asDate(row.m_last_heartbeat_at),
    createdAt: asDate(row.m_created_at),
    updatedAt: asDate(row.m_updated_at),
    deletedAt: maybeDate(row.m_deleted_at),
    deactivationReason: row.m_deactivation_reason as MachineRecord['deactivationReason'],
    license: {
      id: row.m_license_id as string,
      policy: {
        requireHeartbeat: row.p_require_heartbeat as boolean,
        heartbeatDuration: row.p_heartbeat_duration as number,
        heartbeatResurrectionWindow: row.p_heartbeat_resurrection_window as number,
        productId: (row.p_product_id as string | null) ?? null,
      },
    },
  };
}
