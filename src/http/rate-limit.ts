import type { Pool } from 'pg';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { Budget, RateLimits } from '../core/rate-limits.ts';
import { HttpProblem } from './problem.ts';
import type { Principal } from './types.ts';

export type LimitName = keyof RateLimits;

/**
 * How long a credential that authenticated stays vouched for: past a lockout window (at most the
 * failed-authentication budget's) and past the quiet hours of a machine that heartbeats rarely.
 */
const VOUCHED_MS = 24 * 60 * 60 * 1000;
/** Past it, the oldest vouched credential makes room (a few MB at most). */
const VOUCHED_MAX = 50_000;
/** A vouched credential's time is renewed at most this often, not on every request. */
const VOUCH_RENEWAL_MS = 60 * 60 * 1000;

/** The name each budget has in the `RateLimit-Policy` and `RateLimit` headers. */
const POLICY_NAMES: Record<LimitName, string> = {
  ip: 'ip',
  license: 'license',
  apiKey: 'api-key',
  authFailures: 'auth-failures',
};

interface Limiter {
  name: LimitName;
  budget: Budget;
  store: RateLimiterAbstract;
}

/**
 * The four budgets of the API. Successful traffic is counted in this process's memory, so the
 * heartbeat and validate paths pay no database round trip; with N replicas behind a balancer a
 * client can therefore get up to N × a budget (the bound the README states). Failed
 * authentication is counted exactly in PostgreSQL, shared by every replica: it is rare for
 * honest clients, so the round trip is only paid by requests that already failed. Once an
 * address is over that budget the refusal is remembered in memory until its window ends, so a
 * flood of wrong keys costs neither a key lookup nor a counter update per request.
 *
 * That refusal spares the credentials this process has already seen authenticate (by their keyed
 * hash, for a day): the honest machines behind the same NAT as the flood keep being served,
 * while every credential not already proven good, including a guess that happens to be right,
 * is refused as before, so guessing still stops paying off. A spared credential is then
 * authenticated as any other: a key revoked since is a failure, and refused.
 */
export class RateLimiter {
  readonly #ip?: Limiter;
  readonly #license?: Limiter;
  readonly #apiKey?: Limiter;
  readonly #authFailures?: Limiter;
  readonly #onRefusal: (limit: LimitName) => void;
  /** Keyed hash (base64) of a credential that authenticated → until when it is vouched for. */
  readonly #vouched = new Map<string, number>();

  constructor(limits: RateLimits, pool: Pool | undefined, onRefusal: (limit: LimitName) => void = () => {}) {
    this.#onRefusal = onRefusal;
    const memory = (name: LimitName, budget: Budget | null): Limiter | undefined =>
      budget
        ? {
            name,
            budget,
            store: new RateLimiterMemory({ keyPrefix: name, points: budget.points, duration: budget.seconds }),
          }
        : undefined;
    this.#ip = memory('ip', limits.ip);
    this.#license = memory('license', limits.license);
    this.#apiKey = memory('apiKey', limits.apiKey);
    if (limits.authFailures && pool) {
      const budget = limits.authFailures;
      this.#authFailures = {
        name: 'authFailures',
        budget,
        store: new RateLimiterPostgres({
          storeClient: pool,
          storeType: 'pool',
          tableName: 'rate_limit_auth_failures',
          // Created by a migration; the worker deletes expired rows.
          tableCreated: true,
          clearExpiredByTimeout: false,
          keyPrefix: 'ip',
          points: budget.points,
          duration: budget.seconds,
          // The first refusal blocks the address in memory for the rest of its window.
          inMemoryBlockOnConsumed: budget.points + 1,
        }),
      };
    }
  }

  /**
   * Before authentication: an address blocked for failed authentication, unless the request
   * presents a credential already vouched for (`presentedHash`, only computed for a blocked
   * address), then its overall budget.
   */
  beforeAuthentication(
    ip: string,
    presentedHash: () => Buffer | undefined = () => undefined,
  ): Promise<void> | undefined {
    if (this.#authFailures) {
      // Public in the library, missing from its type declarations.
      const store = this.#authFailures.store as RateLimiterPostgres & {
        getInMemoryBlockMsBeforeExpire(key: string): number;
      };
      const blockedMs = store.getInMemoryBlockMsBeforeExpire(store.getKey(ip));
      if (blockedMs > 0 && !this.#isVouchedFor(presentedHash()))
        throw this.#refusal(this.#authFailures, new RateLimiterRes(0, blockedMs, this.#authFailures.budget.points + 1));
    }
    // Undefined, not a promise, when no budget counts: the caller need not wait (hot-path.ts).
    return this.#ip ? this.#consume(this.#ip, ip) : undefined;
  }

  /** After authentication: the credential is vouched for, then its own budget. */
  afterAuthentication(principal: Principal): Promise<void> | undefined {
    if (this.#authFailures) {
      if (principal.kind === 'license') this.#vouch(principal.license.keyHash);
      if (principal.kind === 'apiKey') this.#vouch(principal.apiKey.tokenHash);
    }
    if (principal.kind === 'license' && this.#license) return this.#consume(this.#license, principal.license.id);
    if (principal.kind === 'apiKey' && this.#apiKey) return this.#consume(this.#apiKey, principal.apiKey.id);
    return undefined;
  }

  /** Counts a failed authentication; throws the 429 that replaces the 401 once over budget. */
  async authenticationFailed(ip: string): Promise<void> {
    if (this.#authFailures) await this.#consume(this.#authFailures, ip);
  }

  #vouch(hash: Uint8Array): void {
    const key = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('base64');
    const now = Date.now();
    const until = this.#vouched.get(key);
    if (until !== undefined && until - now > VOUCHED_MS - VOUCH_RENEWAL_MS) return;
    // Delete first so the renewed entry moves to the end: a Map iterates in insertion order.
    this.#vouched.delete(key);
    if (this.#vouched.size >= VOUCHED_MAX) this.#vouched.delete(this.#vouched.keys().next().value!);
    this.#vouched.set(key, now + VOUCHED_MS);
  }

  #isVouchedFor(hash: Buffer | undefined): boolean {
    if (hash === undefined) return false;
    const until = this.#vouched.get(hash.toString('base64'));
    return until !== undefined && until > Date.now();
  }

  async #consume(limiter: Limiter, key: string): Promise<void> {
    try {
      await limiter.store.consume(key);
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) throw this.#refusal(limiter, outcome);
      throw outcome;
    }
  }

  #refusal(limiter: Limiter, outcome: RateLimiterRes): HttpProblem {
    this.#onRefusal(limiter.name);
    const name = POLICY_NAMES[limiter.name];
    const seconds = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
    const what =
      limiter.name === 'authFailures'
        ? 'failed authentications from this address'
        : `requests ${limiter.name === 'ip' ? 'from this address' : 'with this credential'}`;
    return new HttpProblem(
      'RATE_LIMITED',
      `Too many ${what}: at most ${limiter.budget.points} per ${limiter.budget.seconds} s. Retry after ${seconds} s.`,
      {
        'Retry-After': String(seconds),
        'RateLimit-Policy': `"${name}";q=${limiter.budget.points};w=${limiter.budget.seconds}`,
        RateLimit: `"${name}";r=0;t=${seconds}`,
      },
    );
  }
}
