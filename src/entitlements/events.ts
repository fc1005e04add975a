/** The entitlement as events carry it, rendered by PostgreSQL as the API's presenter renders it (test/events.test.ts). */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** An entitlement row aliased `e`. */
export function entitlementJsonSql(e: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(e)}.id, 'code', ${sql.raw(e)}.code, 'name', ${sql.raw(e)}.name, 'metadata', ${sql.raw(e)}.metadata,
    'createdAt', ${iso(`${e}.created_at`)}, 'updatedAt', ${iso(`${e}.updated_at`)})`;
}

/** One entitlement, for `recordEvent`. */
export function entitlementSubject(id: string): Subject {
  return { name: 'entitlement', from: sql`entitlements e where e.id = ${id}`, object: () => entitlementJsonSql('e') };
}
