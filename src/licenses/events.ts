/**
 * The license as events carry it, rendered by PostgreSQL as the API's presenter renders it
 * (src/http/presenters.ts), so a statement that changes many licenses (announcing expiries)
 * writes each event with its object; test/events.test.ts holds it equal to what the API answers.
 */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';
import { coreCountSql, machineCountSql } from '../machines/machine-count.ts';
import { licenseStatusSql } from './status.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** A license row aliased `l`, at `now`, with its count of active machines as the API reads it (machine-count.ts). */
export function licenseJsonSql(l: string, now: Date): Sql {
  return sql`json_build_object(
    'id', ${sql.raw(l)}.id, 'policyId', ${sql.raw(l)}.policy_id,
    'productId', (select product_id from policies where id = ${sql.raw(l)}.policy_id), 'name', ${sql.raw(l)}.name, 'keyHint', ${sql.raw(l)}.key_hint,
    'status', ${licenseStatusSql(l, now)}, 'expiresAt', ${iso(`${l}.expires_at`)}, 'suspendedAt', ${iso(`${l}.suspended_at`)},
    'machineCount', ${machineCountSql(l)}, 'coreCount', ${coreCountSql(l)},
    'metadata', ${sql.raw(l)}.metadata, 'createdAt', ${iso(`${l}.created_at`)}, 'updatedAt', ${iso(`${l}.updated_at`)})`;
}

/** One license, for `recordEvent`. */
export function licenseSubject(id: string): Subject {
  return {
    name: 'license',
    from: sql`licenses l where l.id = ${id}`,
    object: (now) => licenseJsonSql('l', now),
    licenseId: sql.raw('l.id'),
  };
}
