import path from 'node:path';
import { type Budget, DEFAULT_RATE_LIMITS, type RateLimits } from './core/rate-limits.ts';
import { DEFAULT_ACQUIRE_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from './db/orm.ts';
import { DEFAULT_RETENTION, type Retention } from './db/retention.ts';
import { MIN_SECRET_LENGTH } from './keys/secret.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import { DEFAULT_YIELD_PERCENT } from './machines/cull.ts';
import { DEFAULT_WORKER_CRON, isValidCron } from './worker.ts';

// The one place the environment is read; every module gets its part of the result passed in,
// and owns its own constants (the modules imported above), so nothing imports this file back.

export interface Config {
  /** TCP port of the HTTP server. */
  port: number;
  /** Address the HTTP server binds to. */
  host: string;
  /** An external PostgreSQL; undefined means the embedded one under `dataDir`. */
  databaseUrl: string | undefined;
  /** Where embedded mode keeps its database and its generated secret. */
  dataDir: string;
  /** The key of the keyed hashes of license keys and API keys, and of the seals at rest; undefined means "from dataDir". */
  secret: string | undefined;
  /**
   * Former server secrets during a rotation (LICENTRIC_PREVIOUS_SECRETS): what they hashed still
   * authenticates and what they sealed still opens, and is moved under `secret` as it is used.
   */
  previousSecrets: string[];
  logLevel: LogLevel;
  /** When the worker pass (culling, expiry, sweeps) runs (cron syntax, seconds optional). */
  workerCron: string;
  /** Whether `serve` runs the worker schedule in its own process (the single-node default). */
  workerInServer: boolean;
  /** After each culling statement the worker waits this percent of its time, leaving the database to requests. */
  workerYieldPercent: number;
  /** How long a request may wait for a database connection before it gets a 503 (ms). */
  dbAcquireTimeoutMs: number;
  /** How long one SQL statement may run before PostgreSQL cancels it and the request gets a 503 (ms). */
  dbStatementTimeoutMs: number;
  /** On SIGTERM/SIGINT: seconds to keep serving while unready, so load balancers stop sending traffic. */
  shutdownDelaySeconds: number;
  /** On SIGTERM/SIGINT: seconds in-flight work may take before the process exits anyway. */
  shutdownGraceSeconds: number;
  /** How long a request's headers, and the whole request with its body, may take to arrive (408 after). */
  transportTimeouts: { headersTimeoutMs: number; requestTimeoutMs: number };
  /** Express's `trust proxy`: which proxies' X-Forwarded-For to believe; undefined trusts none. */
  trustProxy: boolean | number | string | undefined;
  rateLimits: RateLimits;
  /** The port `/metrics` is served on, apart from the API; undefined serves no metrics. */
  metricsPort: number | undefined;
  /** Whether `serve` also delivers webhooks (the single-node default). */
  webhooksInServer: boolean;
  /** Whether webhook endpoints may be http, private, loopback or link-local (development, tests). */
  webhooksAllowPrivate: boolean;
  /** The process that started this one (`make run`): when it is gone, `serve` stops. */
  stopWithParent: number | undefined;
  /** How long events, webhook deliveries and finished jobs are kept before the worker trims them. */
  retention: Retention;
}

/** Long enough for a slow mobile link to send headers and a 64 KiB body, short enough that a trickle ends soon. */
export const DEFAULT_TRANSPORT_TIMEOUTS: Config['transportTimeouts'] = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
};

export class ConfigError extends Error {}

/**
 * Reads the configuration from the environment and refuses bad values with a message naming the
 * variable, so a typo stops the start instead of surfacing later as odd behaviour.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaults: { logLevel?: LogLevel } = {}): Config {
  const problems: string[] = [];

  const port = parsePort(env.PORT, problems);
  const host = env.HOST?.trim() || '127.0.0.1';

  let databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined) {
    try {
      const url = new URL(databaseUrl);
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        problems.push(`DATABASE_URL must be a postgres:// or postgresql:// URL, got protocol "${url.protocol}"`);
        databaseUrl = undefined;
      }
    } catch {
      problems.push('DATABASE_URL is not a valid URL (expected postgres://user:password@host:5432/database)');
      databaseUrl = undefined;
    }
  }

  const dataDir = path.resolve(env.LICENTRIC_DATA_DIR?.trim() || 'data');

  const secret = env.LICENTRIC_SECRET || undefined;
  if (secret !== undefined && secret.length < MIN_SECRET_LENGTH) {
    problems.push(`LICENTRIC_SECRET must be at least ${MIN_SECRET_LENGTH} characters long`);
  }
  if (secret === undefined && databaseUrl !== undefined) {
    // Replicas on one database must share the secret, so it cannot be generated per machine.
    problems.push('LICENTRIC_SECRET is required when DATABASE_URL is set (e.g. `openssl rand -base64 48`)');
  }

  const previousSecrets = (env.LICENTRIC_PREVIOUS_SECRETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  previousSecrets.forEach((previous, i) => {
    // By position, never by value: the message is logged.
    if (previous.length < MIN_SECRET_LENGTH)
      problems.push(
        `LICENTRIC_PREVIOUS_SECRETS: secret ${i + 1} must be at least ${MIN_SECRET_LENGTH} characters long`,
      );
    if (previous === secret)
      problems.push(`LICENTRIC_PREVIOUS_SECRETS: secret ${i + 1} is LICENTRIC_SECRET itself; list only former secrets`);
    if (previousSecrets.indexOf(previous) !== i)
      problems.push(
        `LICENTRIC_PREVIOUS_SECRETS: secret ${i + 1} repeats secret ${previousSecrets.indexOf(previous) + 1}`,
      );
  });

  const logLevel = (env.LOG_LEVEL?.trim().toLowerCase() || defaults.logLevel || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }

  // A setting renamed keeps its former name as an alias: the name that is set, the new one first.
  const either = (name: string, formerName: string): string => {
    const value = env[name]?.trim();
    const former = env[formerName]?.trim();
    if (value && former && value !== former)
      problems.push(`${name} and its former name ${formerName} are both set, to different values; keep ${name}`);
    return value || !former ? name : formerName;
  };

  const workerCronName = either('LICENTRIC_WORKER_CRON', 'LICENTRIC_CULL_CRON');
  const workerCron = env[workerCronName]?.trim() || DEFAULT_WORKER_CRON;
  if (!isValidCron(workerCron)) problems.push(`${workerCronName} is not a cron expression: "${workerCron}"`);

  const flag = (name: string, fallback: boolean): boolean => {
    const value = env[name]?.trim().toLowerCase() || String(fallback);
    if (value !== 'true' && value !== 'false') problems.push(`${name} must be true or false, got "${env[name]}"`);
    return value === 'true';
  };
  const workerInServer = flag(either('LICENTRIC_WORKER_IN_SERVER', 'LICENTRIC_CULL_IN_SERVER'), true);
  const workerYieldPercent = parseNumber(env, 'LICENTRIC_WORKER_YIELD_PERCENT', DEFAULT_YIELD_PERCENT, 0, problems);
  const webhooksInServer = flag('LICENTRIC_WEBHOOKS_IN_SERVER', true);
  const webhooksAllowPrivate = flag('LICENTRIC_WEBHOOKS_ALLOW_PRIVATE', false);

  const dbAcquireTimeoutMs = parseNumber(
    env,
    'LICENTRIC_DB_ACQUIRE_TIMEOUT_MS',
    DEFAULT_ACQUIRE_TIMEOUT_MS,
    1,
    problems,
  );
  const dbStatementTimeoutMs = parseNumber(
    env,
    'LICENTRIC_DB_STATEMENT_TIMEOUT_MS',
    DEFAULT_STATEMENT_TIMEOUT_MS,
    1,
    problems,
  );
  const shutdownDelaySeconds = parseNumber(env, 'LICENTRIC_SHUTDOWN_DELAY', 0, 0, problems);
  const shutdownGraceSeconds = parseNumber(env, 'LICENTRIC_SHUTDOWN_GRACE', 10, 0, problems);
  const trustProxy = parseTrustProxy(env.LICENTRIC_TRUST_PROXY);
  const transportTimeouts = {
    headersTimeoutMs: parseNumber(
      env,
      'LICENTRIC_HEADERS_TIMEOUT_MS',
      DEFAULT_TRANSPORT_TIMEOUTS.headersTimeoutMs,
      1,
      problems,
    ),
    requestTimeoutMs: parseNumber(
      env,
      'LICENTRIC_REQUEST_TIMEOUT_MS',
      DEFAULT_TRANSPORT_TIMEOUTS.requestTimeoutMs,
      1,
      problems,
    ),
  };
  // Node refuses to start a server whose headers may take longer than the whole request.
  if (transportTimeouts.headersTimeoutMs > transportTimeouts.requestTimeoutMs) {
    problems.push(
      `LICENTRIC_HEADERS_TIMEOUT_MS (${transportTimeouts.headersTimeoutMs}) must not exceed LICENTRIC_REQUEST_TIMEOUT_MS (${transportTimeouts.requestTimeoutMs})`,
    );
  }

  const allLimits = env.LICENTRIC_RATE_LIMITS?.trim().toLowerCase() || 'on';
  if (allLimits !== 'on' && allLimits !== 'off') {
    problems.push(`LICENTRIC_RATE_LIMITS must be on or off, got "${env.LICENTRIC_RATE_LIMITS}"`);
  }
  const budget = (name: string, fallback: Budget | null) =>
    allLimits === 'off' ? null : parseBudget(name, env[name], fallback, problems);
  const rateLimits: RateLimits = {
    ip: budget('LICENTRIC_RATE_LIMIT_IP', DEFAULT_RATE_LIMITS.ip),
    license: budget('LICENTRIC_RATE_LIMIT_LICENSE', DEFAULT_RATE_LIMITS.license),
    apiKey: budget('LICENTRIC_RATE_LIMIT_API_KEY', DEFAULT_RATE_LIMITS.apiKey),
    authFailures: budget('LICENTRIC_RATE_LIMIT_AUTH_FAILURES', DEFAULT_RATE_LIMITS.authFailures),
  };

  let metricsPort: number | undefined;
  if (env.LICENTRIC_METRICS_PORT !== undefined && env.LICENTRIC_METRICS_PORT.trim() !== '') {
    metricsPort = parsePort(env.LICENTRIC_METRICS_PORT, problems, 'LICENTRIC_METRICS_PORT');
  }

  const stopWithParent = Number(env.LICENTRIC_STOP_WITH_PARENT) || undefined;

  const retention: Retention = {
    eventsMs: parseRetention(env, 'LICENTRIC_RETENTION_EVENTS', DEFAULT_RETENTION.eventsMs, problems),
    deliveriesMs: parseRetention(env, 'LICENTRIC_RETENTION_DELIVERIES', DEFAULT_RETENTION.deliveriesMs, problems),
    jobsMs: parseRetention(env, 'LICENTRIC_RETENTION_JOBS', DEFAULT_RETENTION.jobsMs, problems),
  };

  if (problems.length > 0) {
    // One line: it is what an operator sees when the start fails.
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return {
    port,
    host,
    databaseUrl,
    dataDir,
    secret,
    previousSecrets,
    logLevel,
    workerCron,
    workerInServer,
    workerYieldPercent,
    webhooksInServer,
    webhooksAllowPrivate,
    dbAcquireTimeoutMs,
    dbStatementTimeoutMs,
    shutdownDelaySeconds,
    shutdownGraceSeconds,
    trustProxy,
    transportTimeouts,
    rateLimits,
    metricsPort,
    stopWithParent,
    retention,
  };
}

/** A whole number of at least `min`, or the default when unset. */
function parseNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, problems: string[]): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    problems.push(`${name} must be a whole number of at least ${min}, got "${env[name]}"`);
    return fallback;
  }
  return Number(raw);
}

const RETENTION_UNITS_MS = { d: 24 * 60 * 60 * 1000, h: 60 * 60 * 1000 } as const;
/** Ten years: pg-boss keeps its retention in seconds in a 32-bit column; longer than this is `off`. */
const MAX_RETENTION_MS = 3650 * RETENTION_UNITS_MS.d;

/**
 * How long a kind of history is kept: a whole number of days (`90d`) or hours (`36h`), from one
 * hour to ten years, or `off` to keep it forever. The unit is written out because a bare number would be
 * read as days by one operator and as seconds (like LICENTRIC_SHUTDOWN_GRACE) by the next.
 */
function parseRetention(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number | null,
  problems: string[],
): number | null {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === 'off') return null;
  const match = /^(\d+)([dh])$/.exec(raw);
  const ms = match ? Number(match[1]) * RETENTION_UNITS_MS[match[2] as 'd' | 'h'] : 0;
  if (!match || ms < RETENTION_UNITS_MS.h || ms > MAX_RETENTION_MS) {
    problems.push(
      `${name} must be a number of days or hours from 1h to 3650d (e.g. 90d, 36h), or off, got "${env[name]}"`,
    );
    return fallback;
  }
  return ms;
}

/**
 * Express's own forms: `true`/`false`, a hop count, or addresses and subnets (`loopback`,
 * `10.0.0.0/8, 192.168.1.1`), which Express checks itself when the app is built.
 */
function parseTrustProxy(raw: string | undefined): boolean | number | string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/** `<requests>/<seconds>`, e.g. `600/60`, or `off`. */
function parseBudget(
  name: string,
  raw: string | undefined,
  fallback: Budget | null,
  problems: string[],
): Budget | null {
  const value = raw?.trim().toLowerCase();
  if (!value) return fallback;
  if (value === 'off') return null;
  const match = /^(\d+)\/(\d+)$/.exec(value);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    problems.push(`${name} must be <requests>/<seconds> (e.g. 600/60) or off, got "${raw}"`);
    return fallback;
  }
  return { points: Number(match[1]), seconds: Number(match[2]) };
}

function parsePort(raw: string | undefined, problems: string[], name = 'PORT'): number {
  if (raw === undefined || raw.trim() === '') return 3000;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`${name} must be an integer from 0 to 65535, got "${raw}"`);
    return 3000;
  }
  return port;
}
