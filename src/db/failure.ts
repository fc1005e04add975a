import { ConnectionException } from '@mikro-orm/core';

/**
 * Whether an error means "the database could not answer" rather than "the answer is no": the
 * server is down, restarting, unreachable, out of connections, or too slow for our timeouts.
 * Callers turn it into 503 SERVICE_UNAVAILABLE — never into a 401/403 (a credential we could not
 * check is not a wrong one) and never into a 500 (nothing is broken in the request).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // The ORM wraps driver errors and keeps the original as `cause`; pg-pool wraps connect errors.
  for (
    let e: unknown = error, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if (e instanceof ConnectionException) return true;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || isUnavailableSqlState(code))) return true;
    if (typeof message === 'string' && DRIVER_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

/** Seconds a client should wait before retrying a request the database could not serve. */
export const RETRY_AFTER_SECONDS = 5;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('53') || // insufficient resources: too many connections, out of memory, disk full
    code === '57P01' || // admin_shutdown: the server is stopping
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now: starting up or recovering
    code === '57014' || // query_canceled: our statement_timeout fired
    code === '55P03' // lock_not_available: our lock_timeout fired
  );
}

/** What pg and pg-pool say, without an error code, when a connection dies or a timeout fires. */
const DRIVER_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool',
];
