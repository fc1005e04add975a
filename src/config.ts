import path from 'node:path';
import { MIN_SECRET_LENGTH } from './keys/secret.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import { DEFAULT_CULL_CRON, isValidCron } from './worker.ts';

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
  /** The key of the keyed hashes of license keys and API keys; undefined means "from dataDir". */
  secret: string | undefined;
  logLevel: LogLevel;
  /** When the culling worker runs (cron syntax, seconds optional). */
  cullCron: string;
  /** Whether `serve` runs the culling worker in its own process (the single-node default). */
  cullInServer: boolean;
  /** How long a request may wait for a database connection before it gets a 503 (ms). */
  dbAcquireTimeoutMs: number;
  /** How long one SQL statement may run before PostgreSQL cancels it and the request gets a 503 (ms). */
  dbStatementTimeoutMs: number;
  /** On SIGTERM/SIGINT: seconds to keep serving while unready, so load balancers stop sending traffic. */
  shutdownDelaySeconds: number;
  /** On SIGTERM/SIGINT: seconds in-flight work may take before the process exits anyway. */
  shutdownGraceSeconds: number;
}

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

  const logLevel = (env.LOG_LEVEL?.trim().toLowerCase() || defaults.logLevel || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }

  const cullCron = env.LICENTRIC_CULL_CRON?.trim() || DEFAULT_CULL_CRON;
  if (!isValidCron(cullCron)) problems.push(`LICENTRIC_CULL_CRON is not a cron expression: "${cullCron}"`);

  const inServer = env.LICENTRIC_CULL_IN_SERVER?.trim().toLowerCase() || 'true';
  if (inServer !== 'true' && inServer !== 'false') {
    problems.push(`LICENTRIC_CULL_IN_SERVER must be true or false, got "${env.LICENTRIC_CULL_IN_SERVER}"`);
  }

  const dbAcquireTimeoutMs = parseNumber(env, 'LICENTRIC_DB_ACQUIRE_TIMEOUT_MS', 5000, 1, problems);
  const dbStatementTimeoutMs = parseNumber(env, 'LICENTRIC_DB_STATEMENT_TIMEOUT_MS', 10_000, 1, problems);
  const shutdownDelaySeconds = parseNumber(env, 'LICENTRIC_SHUTDOWN_DELAY', 0, 0, problems);
  const shutdownGraceSeconds = parseNumber(env, 'LICENTRIC_SHUTDOWN_GRACE', 10, 0, problems);

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
    logLevel,
    cullCron,
    cullInServer: inServer !== 'false',
    dbAcquireTimeoutMs,
    dbStatementTimeoutMs,
    shutdownDelaySeconds,
    shutdownGraceSeconds,
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

function parsePort(raw: string | undefined, problems: string[]): number {
  if (raw === undefined || raw.trim() === '') return 3000;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`PORT must be an integer from 0 to 65535, got "${raw}"`);
    return 3000;
  }
  return port;
}
