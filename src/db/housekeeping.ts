import type { EntityManager } from './orm.ts';
import { run, sql } from './sql.ts';

/** How long an idempotency key is remembered (the IETF draft's and Stripe's 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface SweepResult {
  idempotencyKeys: number;
  rateLimitCounters: number;
}

/**
 * Deletes what has outlived its purpose: idempotency keys older than 24 h, and failed-
 * authentication counters whose window has ended (their `expire` is epoch milliseconds of the
 * wall clock, which is what the rate limiter writes). The culling worker runs it after each pass,
 * so any number of workers may; each delete is idempotent.
 */
export async function sweepExpired(em: EntityManager, now: Date): Promise<SweepResult> {
  const keys = await run(
    em,
    sql`delete from idempotency_keys where created_at < ${new Date(now.getTime() - IDEMPOTENCY_TTL_MS)}`,
  );
  const counters = await run(em, sql`delete from rate_limit_auth_failures where expire < ${Date.now()}`);
  return { idempotencyKeys: keys.affectedRows, rateLimitCounters: counters.affectedRows };
}
