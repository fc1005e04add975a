/** The webhook endpoint as events carry it, rendered by PostgreSQL as the API's presenter renders it (test/events.test.ts). */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A webhook endpoint row aliased `w`: never its secrets. */
export function webhookEndpointJsonSql(w: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(w)}.id, 'url', ${sql.raw(w)}.url, 'description', ${sql.raw(w)}.description,
    'eventTypes', to_json(${sql.raw(w)}.event_types), 'enabled', ${sql.raw(w)}.enabled,
    'disabledReason', ${sql.raw(w)}.disabled_reason, 'consecutiveFailures', ${sql.raw(w)}.consecutive_failures,
    'previousSecretExpiresAt', ${iso(`${w}.previous_secret_expires_at`)},
    'createdAt', ${iso(`${w}.created_at`)}, 'updatedAt', ${iso(`${w}.updated_at`)})`;
}

/** One webhook endpoint, for `recordEvent`. */
export function webhookEndpointSubject(id: string): Subject {
  return {
    name: 'webhookEndpoint',
    from: sql`webhook_endpoints w where w.id = ${id}`,
    object: () => webhookEndpointJsonSql('w'),
  };
}
