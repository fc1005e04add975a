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
 */
export class RateLimiter {
  readonly #ip?: Limiter;
  readonly #license?: Limiter;
  readonly #apiKey?: Limiter;
  readonly #authFailures?: Limiter;
  readonly #onRefusal: (limit: LimitName) => void;

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

  /** Before authentication: an address blocked for failed authentication, then its overall budget. */
  async beforeAuthentication(ip: string): Promise<void> {
    if (this.#authFailures) {
      // Public in the library, missing from its type declarations.
      const store = this.#authFailures.store as RateLimiterPostgres & {
        getInMemoryBlockMsBeforeExpire(key: string): number;
      };
      const blockedMs = store.getInMemoryBlockMsBeforeExpire(store.getKey(ip));
      if (blockedMs > 0)
        throw this.#refusal(this.#authFailures, new RateLimiterRes(0, blockedMs, this.#authFailures.budget.points + 1));
    }
    if (this.#ip) await this.#consume(this.#ip, ip);
  }

  /** After authentication: the credential's own budget. */
  async afterAuthentication(principal: Principal): Promise<void> {
    if (principal.kind === 'license' && this.#license) await this.#consume(this.#license, principal.license.id);
    if (principal.kind === 'apiKey' && this.#apiKey) await this.#consume(this.#apiKey, principal.apiKey.id);
  }

  /** Counts a failed authentication; throws the 429 that replaces the 401 once over budget. */
  async authenticationFailed(ip: string): Promise<void> {
    if (this.#authFailures) await this.#consume(this.#authFailures, ip);
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
