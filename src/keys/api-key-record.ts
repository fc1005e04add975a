import { maybeDate } from '../db/sql.ts';
import type { ApiKey } from './api-key.entity.ts';
import type { Scope } from './scopes.ts';

/**
 * An API key as authentication hands it out: a plain, frozen record that the authentication
 * cache can share between requests, where an entity belongs to one request's EntityManager.
 */
export type ApiKeyRecord = Readonly<
  Pick<ApiKey, 'id' | 'name' | 'tokenHash' | 'expiresAt' | 'revokedAt' | 'lastUsedAt' | 'productId'>
> & {
  readonly scopes: readonly Scope[];
};

/** A `select * from api_keys` row as a record. */
export function toApiKeyRecord(row: Record<string, unknown>): ApiKeyRecord {
  return Object.freeze({
    id: row.id as string,
    name: row.name as string,
    tokenHash: row.token_hash as Buffer,
    scopes: Object.freeze([...(row.scopes as Scope[])]),
    expiresAt: maybeDate(row.expires_at),
    revokedAt: maybeDate(row.revoked_at),
    lastUsedAt: maybeDate(row.last_used_at),
    // Read with the key, so a request's product limit costs no query of its own.
    productId: (row.product_id as string | null) ?? null,
  });
}
