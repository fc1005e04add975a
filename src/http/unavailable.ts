import type { Context } from 'openapi-backend';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/failure.ts';
import type { Orm } from '../db/orm.ts';
import { execute, sql } from '../db/sql.ts';

/** What a 503 says beside its code: why, and when to come back. */
export interface Unavailable {
  detail: string;
  headers: Record<string, string>;
}

const RETRY_AFTER = { 'Retry-After': String(RETRY_AFTER_SECONDS) };

/**
 * A database failure met by a security handler. openapi-backend catches what a security handler
 * throws and records it as `{ error }`, which would otherwise read as "not authenticated".
 */
export function securityFailure(context: Context): unknown {
  for (const result of Object.values(context.security ?? {})) {
    if (result && typeof result === 'object' && 'error' in result && isDatabaseUnavailable(result.error))
      return result.error;
  }
  return undefined;
}

/** The 503 for a request the database could not serve, logged with the request's id. */
export function databaseUnavailable(error: unknown, log: Logger): Unavailable {
  log.warn({ err: error }, 'database unavailable; answered 503');
  return {
    detail: 'The database is unavailable or too slow to answer. Retry after the delay in Retry-After.',
    headers: RETRY_AFTER,
  };
}

/** Why this process should get no traffic now (/readyz), or undefined when it should. */
export async function readiness(orm: Orm, log: Logger, stopping?: () => boolean): Promise<Unavailable | undefined> {
  if (stopping?.()) return { detail: 'The server is shutting down.', headers: RETRY_AFTER };
  try {
    await execute(orm.em.fork(), sql`select 1`);
    return undefined;
  } catch (error) {
    return databaseUnavailable(error, log);
  }
}
