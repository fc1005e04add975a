import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  ApiKeyNotFound,
  ExpiresInPast,
  LastAdminKey,
  ScopeNotForProductKey,
  ScopeNotGrantable,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks } from '../core/validation.ts';
import { execute, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import { ProductsService } from '../products/products.service.ts';
import { ApiKey } from './api-key.entity.ts';
import { type ApiKeyRecord, toApiKeyRecord } from './api-key-record.ts';
import { apiTokenHint, generateApiToken, isWellFormedApiToken } from './api-token.ts';
import type { AuthCache } from './auth-cache.ts';
import { apiKeySubject } from './events.ts';
import { KeyHasher } from './hashing.ts';
import { grants, isScope, PRODUCT_KEY_SCOPES, type Scope } from './scopes.ts';

export interface CreateApiKeyInput {
  name: string;
  scopes: string[];
  expiresAt?: Date | null;
  /** The one product the key is limited to; null or absent: all. */
  productId?: string | null;
}

export interface CreatedApiKey {
  apiKey: ApiKey;
  /** The plain token: shown once, never stored. */
  token: string;
}

/** How stale `lastUsedAt` may get before a request refreshes it: one write a minute, not one a request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class ApiKeysService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #hasher: KeyHasher;
  readonly #authCache: AuthCache | undefined;

  constructor(em: EntityManager, clock: Clock, actor: Actor | null, hasher: KeyHasher, authCache?: AuthCache) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#hasher = hasher;
    this.#authCache = authCache;
  }

  /**
   * Creates a key. `grantor` is the scopes of the key asking; a key can only hand out what it
   * holds (the CLI, run by whoever controls the server, passes none and may grant anything).
   */
  async create(input: CreateApiKeyInput, grantor?: readonly string[]): Promise<CreatedApiKey> {
    const checks = new Checks();
    checks.text('/name', input.name, { min: 1, max: 255 });
    if (input.scopes.length === 0) checks.fail('/scopes', 'must name at least one scope');
    input.scopes.forEach((scope, i) => {
      if (!isScope(scope)) checks.fail(`/scopes/${i}`, `is not a scope: "${scope}"`);
    });
    checks.instant('/expiresAt', input.expiresAt);
    checks.throwIfAny();
    if (input.expiresAt && input.expiresAt.getTime() <= this.#clock.now().getTime())
      throw new ExpiresInPast(input.expiresAt);
    if (grantor !== undefined) {
      const beyond = input.scopes.filter((scope) => !grants(grantor, scope as Scope));
      if (beyond.length > 0) throw new ScopeNotGrantable(beyond);
    }
    const productId = input.productId ?? null;
    if (productId !== null) {
      const spanning = [...new Set(input.scopes)].filter((scope) => !PRODUCT_KEY_SCOPES.includes(scope as Scope));
      if (spanning.length > 0) throw new ScopeNotForProductKey(spanning);
    }

    const token = generateApiToken();
    const now = this.#clock.now();
    return this.#em.transactional(async (em) => {
      const product =
        productId === null ? null : await new ProductsService(em, this.#clock, this.#actor).lockForUse(em, productId);
      const apiKey = em.create(ApiKey, {
        id: uuidv7(),
        name: input.name,
        tokenHash: this.#hasher.hash('api-key', token),
        tokenSecretId: this.#hasher.secretId,
        tokenHint: apiTokenHint(token),
        scopes: [...new Set(input.scopes as Scope[])],
        productId: product?.id ?? null,
        expiresAt: input.expiresAt ?? null,
        revokedAt: null,
        lastUsedAt: null,
        createdAt: now,
      });
      await em.flush();
      await recordEvent(em, 'api-key.created', apiKeySubject(apiKey.id), now, this.#actor);
      return { apiKey, token };
    });
  }

  /**
   * The live (not revoked, not expired) key a presented token belongs to, or null. Every
   * API-key request starts here: plain SQL and a frozen plain record, as for license keys (mapping
   * the cached row into an entity on every request would cost more than the lookup saves).
   */
  async authenticate(presented: string): Promise<ApiKeyRecord | null> {
    if (!isWellFormedApiToken(presented)) return null;
    const hash = this.#hasher.hash('api-key', presented);
    const cacheKey = `api-key:${hash.toString('base64')}`;
    const load = async () => {
      const [row] = await execute<Record<string, unknown>[]>(
        this.#em,
        sql`select * from api_keys where token_hash = ${hash}`,
      );
      return row ? toApiKeyRecord(row) : null;
    };
    let apiKey = this.#authCache ? await this.#authCache.through(cacheKey, load) : await load();
    // Only a miss, and only during a rotation of the server secret, looks any further.
    if (apiKey === null && this.#hasher.hasPrevious) apiKey = await this.#authenticatePrevious(presented, hash);
    if (apiKey === null || !KeyHasher.equal(apiKey.tokenHash, hash)) return null;
    const now = this.#clock.now();
    if (apiKey.revokedAt != null) return null;
    if (apiKey.expiresAt != null && apiKey.expiresAt.getTime() <= now.getTime()) return null;
    if (apiKey.lastUsedAt == null || now.getTime() - apiKey.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      await this.#em.nativeUpdate(ApiKey, { id: apiKey.id }, { lastUsedAt: now });
      // Its triggers leave `last_used_at` alone (no replica need forget over it); the copy here
      // keeps this one from writing it again on every request.
      this.#authCache?.refresh(cacheKey, Object.freeze({ ...apiKey, lastUsedAt: now }));
    }
    return apiKey;
  }

  /**
   * A token hashed under a previous server secret: found by those hashes in one statement, and
   * re-hashed under the current secret by an update guarded on the old hash, so two requests
   * re-hashing at once cannot clash. The current hash is looked for again beside them, so a
   * request that missed it just before another re-hashed the token still finds it. The change
   * notifies every replica's authentication cache.
   */
  async #authenticatePrevious(presented: string, hash: Buffer): Promise<ApiKeyRecord | null> {
    const hashes = [hash, ...this.#hasher.previousHashes('api-key', presented)];
    const [row] = await execute<Record<string, unknown>[]>(
      this.#em,
      sql`select * from api_keys where token_hash in (${sql.join(
        hashes.map((h) => sql`${h}`),
        ', ',
      )})`,
    );
    if (!row) return null;
    if (KeyHasher.equal(row.token_hash as Buffer, hash)) return toApiKeyRecord(row);
    await execute(
      this.#em,
      sql`update api_keys set token_hash = ${hash}, token_secret_id = ${this.#hasher.secretId}
           where id = ${row.id as string} and token_hash = ${row.token_hash as Buffer}`,
    );
    this.#authCache?.forget();
    return toApiKeyRecord({ ...row, token_hash: hash });
  }

  async list(query: PageQuery & { includeRevoked: boolean }): Promise<Page<ApiKey>> {
    const where: FilterQuery<ApiKey> = query.includeRevoked ? {} : { revokedAt: null };
    return findPage(this.#em, ApiKey, where, query);
  }

  async get(id: string): Promise<ApiKey> {
    const apiKey = isUuid(id) ? await this.#em.findOne(ApiKey, { id }) : null;
    if (!apiKey) throw new ApiKeyNotFound(id);
    return apiKey;
  }

  /**
   * Revokes a key; revoking twice changes nothing. The live admin keys are locked while we
   * decide, so two administrators revoking each other's keys at once cannot leave none.
   */
  async revoke(id: string): Promise<ApiKey> {
    return this.#em
      .transactional(async (em) => {
        const apiKey = isUuid(id) ? await em.findOne(ApiKey, { id }) : null;
        if (!apiKey) throw new ApiKeyNotFound(id);
        if (apiKey.revokedAt != null) return apiKey;
        const now = this.#clock.now();
        if (apiKey.scopes.includes('admin')) {
          const liveAdmins = await execute<{ id: string }[]>(
            em,
            sql`select id from api_keys
               where 'admin' = any(scopes) and revoked_at is null and (expires_at is null or expires_at > ${now})
               order by id for update`,
          );
          if (liveAdmins.length <= 1 && liveAdmins.some((row) => row.id === apiKey.id)) throw new LastAdminKey();
        }
        apiKey.revokedAt = now;
        await em.flush();
        await recordEvent(em, 'api-key.revoked', apiKeySubject(apiKey.id), now, this.#actor);
        return apiKey;
      })
      .finally(() => this.#authCache?.forget());
  }

  /** Whether any API key exists at all: an empty table means a first start. */
  async any(): Promise<boolean> {
    return (await this.#em.count(ApiKey, {})) > 0;
  }
}
