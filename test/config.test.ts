import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration from the environment', () => {
  it('has working defaults for a bare machine: port 3000, embedded database under ./data', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      databaseUrl: undefined,
      secret: undefined,
      logLevel: 'info',
      workerCron: '* * * * *',
      workerInServer: true,
      workerYieldPercent: 100,
    });
    // Every database call is bounded, and a stop drains for at most 10 s.
    expect(config).toMatchObject({
      dbAcquireTimeoutMs: 5000,
      dbStatementTimeoutMs: 10_000,
      shutdownDelaySeconds: 0,
      shutdownGraceSeconds: 10,
    });
    // A request that trickles in is answered 408 within seconds, not held for a minute.
    expect(config.transportTimeouts).toEqual({ headersTimeoutMs: 5000, requestTimeoutMs: 10_000 });
    expect(config.dataDir).toBe(path.resolve('data'));
  });

  it("takes an entry point's own default log level, which LOG_LEVEL still overrides", () => {
    expect(loadConfig({}, { logLevel: 'warn' }).logLevel).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: 'debug' }, { logLevel: 'warn' }).logLevel).toBe('debug');
  });

  it('reads former secrets, comma-separated, and names a bad one by position, never by value', () => {
    const previous = ['p'.repeat(40), 'q'.repeat(40)];
    expect(
      loadConfig({ LICENTRIC_SECRET: 's'.repeat(40), LICENTRIC_PREVIOUS_SECRETS: ` ${previous.join(' , ')} ,` })
        .previousSecrets,
    ).toEqual(previous);
    expect(loadConfig({}).previousSecrets).toEqual([]);
    expect(() => loadConfig({ LICENTRIC_PREVIOUS_SECRETS: 'a-short-former-secret' })).toThrow(
      /^(?!.*a-short-former-secret).*secret 1 must be at least 32/,
    );
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgres://u:p@db.internal:5432/licentric',
      LICENTRIC_DATA_DIR: '/var/lib/licentric',
      LICENTRIC_SECRET: 's'.repeat(40),
      LOG_LEVEL: 'DEBUG',
      LICENTRIC_WORKER_CRON: '*/5 * * * *',
      LICENTRIC_WORKER_IN_SERVER: 'false',
      LICENTRIC_WORKER_YIELD_PERCENT: '0',
      LICENTRIC_STOP_WITH_PARENT: '4242',
      LICENTRIC_DB_ACQUIRE_TIMEOUT_MS: '1500',
      LICENTRIC_DB_STATEMENT_TIMEOUT_MS: '2500',
      LICENTRIC_SHUTDOWN_DELAY: '3',
      LICENTRIC_SHUTDOWN_GRACE: '20',
      LICENTRIC_HEADERS_TIMEOUT_MS: '2000',
      LICENTRIC_REQUEST_TIMEOUT_MS: '30000',
    });
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: 'postgres://u:p@db.internal:5432/licentric',
      dataDir: '/var/lib/licentric',
      secret: 's'.repeat(40),
      logLevel: 'debug',
      workerCron: '*/5 * * * *',
      workerInServer: false,
      workerYieldPercent: 0,
      stopWithParent: 4242,
      dbAcquireTimeoutMs: 1500,
      dbStatementTimeoutMs: 2500,
      shutdownDelaySeconds: 3,
      shutdownGraceSeconds: 20,
      transportTimeouts: { headersTimeoutMs: 2000, requestTimeoutMs: 30_000 },
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be an integer from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT must be an integer from 0 to 65535'],
    [{ DATABASE_URL: 'mysql://x@y/z', LICENTRIC_SECRET: 's'.repeat(40) }, 'DATABASE_URL must be a postgres://'],
    [{ DATABASE_URL: 'not a url', LICENTRIC_SECRET: 's'.repeat(40) }, 'DATABASE_URL is not a valid URL'],
    [{ LICENTRIC_SECRET: 'short' }, 'LICENTRIC_SECRET must be at least 32 characters'],
    [{ DATABASE_URL: 'postgres://u@h/d' }, 'LICENTRIC_SECRET is required when DATABASE_URL is set'],
    [
      { LICENTRIC_SECRET: 's'.repeat(40), LICENTRIC_PREVIOUS_SECRETS: `${'p'.repeat(40)},short` },
      'LICENTRIC_PREVIOUS_SECRETS: secret 2 must be at least 32 characters',
    ],
    [
      { LICENTRIC_SECRET: 's'.repeat(40), LICENTRIC_PREVIOUS_SECRETS: 's'.repeat(40) },
      'LICENTRIC_PREVIOUS_SECRETS: secret 1 is LICENTRIC_SECRET itself',
    ],
    [
      { LICENTRIC_SECRET: 's'.repeat(40), LICENTRIC_PREVIOUS_SECRETS: `${'p'.repeat(40)}, ${'p'.repeat(40)}` },
      'LICENTRIC_PREVIOUS_SECRETS: secret 2 repeats secret 1',
    ],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ LICENTRIC_WORKER_CRON: 'every minute' }, 'LICENTRIC_WORKER_CRON is not a cron expression'],
    [{ LICENTRIC_CULL_CRON: 'every minute' }, 'LICENTRIC_CULL_CRON is not a cron expression'],
    [{ LICENTRIC_WORKER_IN_SERVER: 'yes' }, 'LICENTRIC_WORKER_IN_SERVER must be true or false'],
    [{ LICENTRIC_CULL_IN_SERVER: 'yes' }, 'LICENTRIC_CULL_IN_SERVER must be true or false'],
    [{ LICENTRIC_WORKER_YIELD_PERCENT: 'half' }, 'LICENTRIC_WORKER_YIELD_PERCENT must be a whole number of at least 0'],
    [{ LICENTRIC_DB_ACQUIRE_TIMEOUT_MS: '0' }, 'LICENTRIC_DB_ACQUIRE_TIMEOUT_MS must be a whole number of at least 1'],
    [{ LICENTRIC_DB_STATEMENT_TIMEOUT_MS: '5s' }, 'LICENTRIC_DB_STATEMENT_TIMEOUT_MS must be a whole number'],
    [{ LICENTRIC_SHUTDOWN_GRACE: '-1' }, 'LICENTRIC_SHUTDOWN_GRACE must be a whole number'],
    [{ LICENTRIC_SHUTDOWN_DELAY: 'soon' }, 'LICENTRIC_SHUTDOWN_DELAY must be a whole number'],
    [{ LICENTRIC_HEADERS_TIMEOUT_MS: '0' }, 'LICENTRIC_HEADERS_TIMEOUT_MS must be a whole number of at least 1'],
    [{ LICENTRIC_REQUEST_TIMEOUT_MS: '10s' }, 'LICENTRIC_REQUEST_TIMEOUT_MS must be a whole number'],
    [
      { LICENTRIC_HEADERS_TIMEOUT_MS: '20000' },
      'LICENTRIC_HEADERS_TIMEOUT_MS (20000) must not exceed LICENTRIC_REQUEST_TIMEOUT_MS (10000)',
    ],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('still takes the worker settings by their former names, LICENTRIC_CULL_CRON and LICENTRIC_CULL_IN_SERVER', () => {
    expect(loadConfig({ LICENTRIC_CULL_CRON: '*/5 * * * *', LICENTRIC_CULL_IN_SERVER: 'false' })).toMatchObject({
      workerCron: '*/5 * * * *',
      workerInServer: false,
    });
    // Both names with one value is no conflict: a deployment part-way through the rename.
    expect(loadConfig({ LICENTRIC_WORKER_CRON: '0 * * * *', LICENTRIC_CULL_CRON: '0 * * * *' }).workerCron).toBe(
      '0 * * * *',
    );
  });

  it.each([
    [
      { LICENTRIC_WORKER_CRON: '0 * * * *', LICENTRIC_CULL_CRON: '*/5 * * * *' },
      'LICENTRIC_WORKER_CRON and its former name LICENTRIC_CULL_CRON',
    ],
    [
      { LICENTRIC_WORKER_IN_SERVER: 'true', LICENTRIC_CULL_IN_SERVER: 'false' },
      'LICENTRIC_WORKER_IN_SERVER and its former name LICENTRIC_CULL_IN_SERVER',
    ],
  ])('refuses a setting and its former name set to different values: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reports every bad variable at once', () => {
    try {
      loadConfig({ PORT: '-1', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('PORT');
      expect((error as Error).message).toContain('LOG_LEVEL');
    }
  });
});
