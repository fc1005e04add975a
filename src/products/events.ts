/** The product as events carry it, rendered by PostgreSQL as the API's presenter renders it (test/events.test.ts). */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A product row aliased `r`. */
export function productJsonSql(r: string): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(r)}.id, 'name', ${sql.raw(r)}.name, 'code', ${sql.raw(r)}.code, 'url', ${sql.raw(r)}.url,
    'metadata', ${sql.raw(r)}.metadata, 'createdAt', ${iso(`${r}.created_at`)}, 'updatedAt', ${iso(`${r}.updated_at`)})`;
}

/** One product, for `recordEvent`. */
export function productSubject(id: string): Subject {
  return { name: 'product', from: sql`products r where r.id = ${id}`, object: () => productJsonSql('r') };
}
