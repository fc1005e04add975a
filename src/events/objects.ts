/**
 * The objects events carry, rendered by PostgreSQL as the API's presenters render them
 * (src/http/presenters.ts), so that statements which change many rows at once (culling,
 * deactivating a license's machines) write each event with its object in the same statement.
 * test/events.test.ts holds every kind to equal what the API answers for it at that instant.
 */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import { licenseStatusSql } from '../licenses/status.ts';
import { heartbeatSql } from '../machines/heartbeat.ts';
import { machineCountSql } from '../machines/machine-count.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A machine row aliased `m` with its policy's heartbeat settings under alias `p`, at `now` (an instant or a column). */
export function machineJsonSql(m: string, p: string, now: Date | Sql): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(m)}.id, 'licenseId', ${sql.raw(m)}.license_id, 'fingerprint', ${sql.raw(m)}.fingerprint,
    'name', ${sql.raw(m)}.name, 'platform', ${sql.raw(m)}.platform, 'hostname', ${sql.raw(m)}.hostname, 'cores', ${sql.raw(m)}.cores,
    'lastHeartbeatAt', ${iso(`${m}.last_heartbeat_at`)}, 'createdAt', ${iso(`${m}.created_at`)},
    'updatedAt', ${iso(`${m}.updated_at`)}, 'deletedAt', ${iso(`${m}.deleted_at`)}, 'metadata', ${sql.raw(m)}.metadata,
    'heartbeatStatus', ${heartbeatSql.status(m, p, now)},
    'nextHeartbeatAt', case when ${sql.raw(p)}.require_heartbeat then ${isoTimestampSql(heartbeatSql.deadline(m, p))} end,
    'deactivationReason', ${sql.raw(m)}.deactivation_reason)`;
}

/** A license row aliased `l`, at `now`, with its count of active machines as the API reads it (machine-count.ts). */
export function licenseJsonSql(l: string, now: Date): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(l)}.id, 'policyId', ${sql.raw(l)}.policy_id, 'name', ${sql.raw(l)}.name, 'keyHint', ${sql.raw(l)}.key_hint,
    'status', ${licenseStatusSql(l, now)}, 'expiresAt', ${iso(`${l}.expires_at`)}, 'suspendedAt', ${iso(`${l}.suspended_at`)},
    'machineCount', ${machineCountSql(l)},
    'metadata', ${sql.raw(l)}.metadata, 'createdAt', ${iso(`${l}.created_at`)}, 'updatedAt', ${iso(`${l}.updated_at`)})`;
}

/** A policy row aliased `p`. */
export function policyJsonSql(p: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(p)}.id, 'name', ${sql.raw(p)}.name, 'maxMachines', ${sql.raw(p)}.max_machines, 'keyPrefix', ${sql.raw(p)}.key_prefix,
    'requireHeartbeat', ${sql.raw(p)}.require_heartbeat, 'heartbeatDuration', ${sql.raw(p)}.heartbeat_duration,
    'heartbeatCullStrategy', ${sql.raw(p)}.heartbeat_cull_strategy,
    'heartbeatResurrectionWindow', ${sql.raw(p)}.heartbeat_resurrection_window,
    'machineMatchingStrategy', ${sql.raw(p)}.machine_matching_strategy,
    'metadata', ${sql.raw(p)}.metadata, 'createdAt', ${iso(`${p}.created_at`)}, 'updatedAt', ${iso(`${p}.updated_at`)})`;
}

/** An entitlement row aliased `e`. */
export function entitlementJsonSql(e: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(e)}.id, 'code', ${sql.raw(e)}.code, 'name', ${sql.raw(e)}.name, 'metadata', ${sql.raw(e)}.metadata,
    'createdAt', ${iso(`${e}.created_at`)}, 'updatedAt', ${iso(`${e}.updated_at`)})`;
}

/** An API key row aliased `k`: never its token, which is not stored. */
export function apiKeyJsonSql(k: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(k)}.id, 'name', ${sql.raw(k)}.name, 'scopes', to_json(${sql.raw(k)}.scopes), 'tokenHint', ${sql.raw(k)}.token_hint,
    'expiresAt', ${iso(`${k}.expires_at`)}, 'revokedAt', ${iso(`${k}.revoked_at`)}, 'lastUsedAt', ${iso(`${k}.last_used_at`)},
    'createdAt', ${iso(`${k}.created_at`)})`;
}

/** A webhook endpoint row aliased `w`: never its secrets. */
export function webhookEndpointJsonSql(w: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(w)}.id, 'url', ${sql.raw(w)}.url, 'description', ${sql.raw(w)}.description,
    'eventTypes', to_json(${sql.raw(w)}.event_types), 'enabled', ${sql.raw(w)}.enabled,
    'disabledReason', ${sql.raw(w)}.disabled_reason, 'consecutiveFailures', ${sql.raw(w)}.consecutive_failures,
    'previousSecretExpiresAt', ${iso(`${w}.previous_secret_expires_at`)},
    'createdAt', ${iso(`${w}.created_at`)}, 'updatedAt', ${iso(`${w}.updated_at`)})`;
}
