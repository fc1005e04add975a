import type { Context } from 'openapi-backend';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/failure.ts';
import type { Orm } from '../db/orm.ts';
import { HttpProblem } from './problem.ts';

/**
 * A database failure met by a security handler. openapi-backend catches what a security handler
 * throws and records it as `{ error }`, which would otherwise read as "not authenticated".
 */
export function securityFailure(context: Context): unknown {
  for (const result of Object.values(context.security ?? {})) {
    if (result && typeof result === 'object' && 'error' in result && isDatabaseUnavailable(result.error)) return result.error;
  }
  return undefined;
}

/** The 503 for a request the database could not serve, logged with the request's id. */
export function databaseUnavailableProblem(error: unknown, log: Logger): HttpProblem {
  log.warn({ err: error }, 'database unavailable; answered 503');
  return new HttpProblem('SERVICE_UNAVAILABLE', 'The database is unavailable or too slow to answer. Retry after the delay in Retry-After.', {
    'Retry-After': String(RETRY_AFTER_SECONDS),
  });
}

/** The database failure among anything a request can throw, as its 503; undefined for anything else. */
export function asUnavailable(error: unknown, log: Logger): HttpProblem | undefined {
  return isDatabaseUnavailable(error) ? databaseUnavailableProblem(error, log) : undefined;
}

/** Why this process should get no traffic now (/readyz), or undefined when it should. */
export async function readiness(orm: Orm, log: Logger, stopping?: () => boolean): Promise<HttpProblem | undefined> {
  if (stopping?.()) {
    return new HttpProblem('SERVICE_UNAVAILABLE', 'The server is shutting down.', { 'Retry-After': String(RETRY_AFTER_SECONDS) });
  }
  try {
    await orm.em.fork().execute('select 1');
    return undefined;
  } catch (error) {
    return databaseUnavailableProblem(error, log);
  }
}
