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
  /** Whether `serve` also delivers webhooks (the single-node default). */
  webhooksInServer: boolean;
  /** Whether webhook endpoints may be http, private, loopback or link-local (development, tests). */
  webhooksAllowPrivate: boolean;
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

  const flag = (name: string, fallback: boolean): boolean => {
    const value = env[name]?.trim().toLowerCase() || String(fallback);
    if (value !== 'true' && value !== 'false') problems.push(`${name} must be true or false, got "${env[name]}"`);
    return value === 'true';
  };
  const cullInServer = flag('LICENTRIC_CULL_IN_SERVER', true);
  const webhooksInServer = flag('LICENTRIC_WEBHOOKS_IN_SERVER', true);
  const webhooksAllowPrivate = flag('LICENTRIC_WEBHOOKS_ALLOW_PRIVATE', false);

  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return { port, host, databaseUrl, dataDir, secret, logLevel, cullCron, cullInServer, webhooksInServer, webhooksAllowPrivate };
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
