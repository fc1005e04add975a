/** The API key as events carry it, rendered by PostgreSQL as the API's presenter renders it (test/events.test.ts). */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** An API key row aliased `k`: never its token, which is not stored. */
export function apiKeyJsonSql(k: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(k)}.id, 'name', ${sql.raw(k)}.name, 'scopes', to_json(${sql.raw(k)}.scopes),
    'productId', ${sql.raw(k)}.product_id, 'tokenHint', ${sql.raw(k)}.token_hint,
    'expiresAt', ${iso(`${k}.expires_at`)}, 'revokedAt', ${iso(`${k}.revoked_at`)}, 'lastUsedAt', ${iso(`${k}.last_used_at`)},
    'createdAt', ${iso(`${k}.created_at`)})`;
}

/** One API key, for `recordEvent`. */
export function apiKeySubject(id: string): Subject {
  return { name: 'apiKey', from: sql`api_keys k where k.id = ${id}`, object: () => apiKeyJsonSql('k') };
}
