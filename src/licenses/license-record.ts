import { maybeDate } from '../db/sql.ts';
import type { License } from './license.entity.ts';

/**
 * A license as authentication finds it: a plain, frozen record that the authentication cache can
 * hand to any number of requests, where an entity belongs to one request's EntityManager (and
 * mapping one on every request would cost more CPU than the cache saves; bench/README.md).
 */
export type LicenseRecord = Readonly<
  Pick<
    License,
    'id' | 'keyHash' | 'keyHint' | 'name' | 'metadata' | 'expiresAt' | 'suspendedAt' | 'createdAt' | 'updatedAt'
  > & { policy: { id: string } }
>;

/** A `select * from licenses` row as a record. */
export function toLicenseRecord(row: Record<string, unknown>): LicenseRecord {
  return Object.freeze({
    id: row.id as string,
    keyHash: row.key_hash as Buffer,
    keyHint: row.key_hint as string,
    name: row.name as string | null,
    metadata: Object.freeze(
      (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<string, unknown>,
    ),
    expiresAt: maybeDate(row.expires_at),
    suspendedAt: maybeDate(row.suspended_at),
    createdAt: maybeDate(row.created_at)!,
    updatedAt: maybeDate(row.updated_at)!,
    policy: Object.freeze({ id: row.policy_id as string }),
  });
}
