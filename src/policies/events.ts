/** The policy as events carry it, rendered by PostgreSQL as the API's presenter renders it (test/events.test.ts). */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A policy row aliased `p`. */
export function policyJsonSql(p: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(p)}.id, 'name', ${sql.raw(p)}.name, 'maxMachines', ${sql.raw(p)}.max_machines, 'keyPrefix', ${sql.raw(p)}.key_prefix,
    'requireHeartbeat', ${sql.raw(p)}.require_heartbeat, 'heartbeatDuration', ${sql.raw(p)}.heartbeat_duration,
    'heartbeatCullStrategy', ${sql.raw(p)}.heartbeat_cull_strategy,
    'heartbeatResurrectionWindow', ${sql.raw(p)}.heartbeat_resurrection_window,
    'maxCores', ${sql.raw(p)}.max_cores, 'overageStrategy', ${sql.raw(p)}.overage_strategy,
    'machineUniquenessStrategy', ${sql.raw(p)}.machine_uniqueness_strategy,
    'productId', ${sql.raw(p)}.product_id,
    'duration', ${sql.raw(p)}.duration, 'expirationBasis', ${sql.raw(p)}.expiration_basis,
    'expirationStrategy', ${sql.raw(p)}.expiration_strategy, 'renewalBasis', ${sql.raw(p)}.renewal_basis,
    'machineMatchingStrategy', ${sql.raw(p)}.machine_matching_strategy,
    'checkOutTtl', ${sql.raw(p)}.check_out_ttl, 'allowNonExpiringFiles', ${sql.raw(p)}.allow_non_expiring_files,
    'maxProcesses', ${sql.raw(p)}.max_processes, 'processLeasingStrategy', ${sql.raw(p)}.process_leasing_strategy,
    'processHeartbeatDuration', ${sql.raw(p)}.process_heartbeat_duration,
    'metadata', ${sql.raw(p)}.metadata, 'createdAt', ${iso(`${p}.created_at`)}, 'updatedAt', ${iso(`${p}.updated_at`)})`;
}

/** One policy, for `recordEvent`. */
export function policySubject(id: string): Subject {
  return { name: 'policy', from: sql`policies p where p.id = ${id}`, object: () => policyJsonSql('p') };
}
