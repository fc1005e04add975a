import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Clock } from '../core/clock.ts';
import { openBody, sealBody } from '../core/sealing.ts';
import { IDEMPOTENCY_TTL_MS } from '../db/housekeeping.ts';
import { forDriver, sql } from '../db/sql.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { HttpProblem } from './problem.ts';
import type { Principal } from './types.ts';

/**
 * A first request that has not finished after this long is taken to have died with its process
 * (nothing the API does takes a second), so a retry may run it again rather than get 409 for a day.
 */
const ABANDONED_AFTER_MS = 60 * 1000;
/** The header on a replayed response (Stripe's name). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export interface StoredResult {
  status: number;
  body: unknown;
  contentType: string;
  headers?: Record<string, string>;
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Idempotency keys (draft-ietf-httpapi-idempotency-key-header, with Stripe's behaviour): the first
 * request with a key claims it with one insert; a retry with the same key and the same request
 * gets the first success replayed, with a different request 422 `IDEMPOTENCY_KEY_REUSED`, and
 * while the first still runs 409 `IDEMPOTENCY_KEY_IN_USE`. Keys are scoped to the credential, so
 * two clients cannot see each other's answers.
 *
 * Only successes are kept. A refusal (a full license, a validation error) is not an outcome worth
 * pinning for a day: the key is released and a retry runs again, which is what a client that
 * fixes its request or waits for a free seat needs. Stored bodies are encrypted with a key derived
 * from the server secret, because a creation's response holds the new license key or API token
 * that the server otherwise never stores in the clear. Each row records the id of the secret its
 * body was sealed under, so a rotation of the secret still replays it (src/core/sealing.ts).
 */
export class IdempotencyKeys {
  readonly #pool: Pool;
  readonly #clock: Clock;
  readonly #bodyKeys: Map<string, Buffer>;
  readonly #secretId: string;

  constructor(pool: Pool, clock: Clock, hasher: KeyHasher) {
    this.#pool = pool;
    this.#clock = clock;
    this.#bodyKeys = hasher.bodyKeys();
    this.#secretId = hasher.secretId;
  }

  static scopeOf(principal: Principal): string {
    if (principal.kind === 'license') return `license:${principal.license.id}`;
    if (principal.kind === 'apiKey') return `api-key:${principal.apiKey.id}`;
    // The public operations are reads, which take no Idempotency-Key; one shared scope otherwise.
    return 'anonymous';
  }

  static fingerprint(operationId: string, request: { path: unknown; query: unknown; body: unknown }): string {
    return createHash('sha256')
      .update(canonicalJson({ operationId, ...request }))
      .digest('base64url');
  }

  async run(
    scope: string,
    key: string,
    fingerprint: string,
    execute: () => Promise<StoredResult>,
  ): Promise<StoredResult> {
    // A row can disappear between the failed claim and the read (its first request failed and
    // released it); then the claim is simply tried again.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.#claim(scope, key, fingerprint)) return this.#runClaimed(scope, key, execute);
      const { rows } = await this.#pool.query<{
        fingerprint: string;
        status: number | null;
        body: string | null;
        secret_id: string | null;
      }>(
        forDriver(
          sql`select fingerprint, status, body, secret_id from idempotency_keys where scope = ${scope} and key = ${key}`,
        ),
        [scope, key],
      );
      const row = rows[0];
      if (!row) continue;
      if (row.fingerprint !== fingerprint) {
        throw new HttpProblem(
          'IDEMPOTENCY_KEY_REUSED',
          'This Idempotency-Key was already used for a different request; use a new key for a new request.',
        );
      }
      if (row.status === null) {
        throw new HttpProblem(
          'IDEMPOTENCY_KEY_IN_USE',
          'A request with this Idempotency-Key is still being processed; retry when it has finished.',
        );
      }
      return {
        status: row.status,
        body: openBody(this.#bodyKeys, row.body!, row.secret_id),
        contentType: 'application/json',
        headers: { [REPLAYED_HEADER]: 'true' },
      };
    }
    throw new HttpProblem(
      'IDEMPOTENCY_KEY_IN_USE',
      'A request with this Idempotency-Key is still being processed; retry when it has finished.',
    );
  }

  async #claim(scope: string, key: string, fingerprint: string): Promise<boolean> {
    const now = this.#clock.now();
    const { rowCount } = await this.#pool.query(
      forDriver(sql`insert into idempotency_keys (scope, key, fingerprint, created_at) values (${scope}, ${key}, ${fingerprint}, ${now})
       on conflict (scope, key) do update
          set fingerprint = excluded.fingerprint, created_at = excluded.created_at, status = null, body = null
        where idempotency_keys.created_at < ${new Date(now.getTime() - IDEMPOTENCY_TTL_MS)}
           or (idempotency_keys.status is null and idempotency_keys.created_at < ${new Date(now.getTime() - ABANDONED_AFTER_MS)})`),
    );
    return rowCount === 1;
  }

  async #runClaimed(scope: string, key: string, execute: () => Promise<StoredResult>): Promise<StoredResult> {
    let result: StoredResult;
    try {
      result = await execute();
    } catch (error) {
      await this.#release(scope, key);
      throw error;
    }
    if (result.status >= 200 && result.status < 300) {
      await this.#pool.query(
        forDriver(
          sql`update idempotency_keys set status = ${result.status}, body = ${sealBody(this.#bodyKeys.get(this.#secretId)!, result.body)}, secret_id = ${this.#secretId}
              where scope = ${scope} and key = ${key}`,
        ),
      );
    } else {
      await this.#release(scope, key);
    }
    return result;
  }

  async #release(scope: string, key: string): Promise<void> {
    await this.#pool.query(
      forDriver(sql`delete from idempotency_keys where scope = ${scope} and key = ${key} and status is null`),
    );
  }
}
