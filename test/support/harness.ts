import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import createClient from 'openapi-fetch';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import type { paths } from '../../generated/api.d.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { initOrm, type Orm } from '../../src/db/orm.ts';
import { createApp, type AppDeps } from '../../src/http/app.ts';
import { AuthCache, listenForAuthChanges, type AuthListener } from '../../src/keys/auth-cache.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import type { Scope } from '../../src/keys/scopes.ts';
import { createLogger } from '../../src/log.ts';
import { Services } from '../../src/services.ts';
import { DEFAULT_TRANSPORT_TIMEOUTS } from '../../src/config.ts';
import { createHttpServer, type TransportTimeouts } from '../../src/http/transport.ts';
import type { AddressPolicy, Resolver } from '../../src/webhooks/address.ts';

export type ApiClient = ReturnType<typeof createClient<paths>>;

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';

/**
 * Name resolution for webhook URLs in the tests, which must not depend on DNS: names under
 * example.com resolve to a public (documentation) address, every other name to nothing.
 */
export const offlineResolver: Resolver = async (host) => {
  if (host === 'example.com' || host.endsWith('.example.com')) return [{ address: '203.0.113.10', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

/** A running API on its own fresh database, with a clock the test moves. */
export interface TestServer {
  baseUrl: string;
  /** The API base, for raw fetches the typed client cannot express (malformed bodies…). */
  apiUrl: string;
  client: ApiClient;
  clock: ManualClock;
  orm: Orm;
  /** A database URL for this file's database (for the CLI, or direct SQL). */
  databaseUrl: string;
  /**
   * Runs SQL directly, to set up states the API cannot create (yet) or to inspect rows. Like a
   * change made by another process, it reaches the server's authentication cache through
   * PostgreSQL's notification, which this waits for.
   */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** The server's authentication cache. */
  authCache: AuthCache;
  /** Domain services on a fresh unit of work, for seeding; sharing the server's cache. */
  services(): Services;
  contractViolations: string[];
}

export interface SeededLicense {
  policyId: string;
  licenseId: string;
  key: string;
}

/** A fresh database cloned from the migrated template, for this test file alone. */
export async function createDatabase(): Promise<string> {
  const serverUrl = inject('serverUrl');
  const name = `${inject('databasePrefix')}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Starts the real app (routing, security, validation, handlers, ORM) on a fresh database for
 * the calling test file, with every response checked against the spec. After each test it
 * asserts that no response broke the contract.
 */
export function useTestServer(
  options: { logTo?: NodeJS.WritableStream; webhookAddresses?: AddressPolicy; transportTimeouts?: TransportTimeouts } & Pick<AppDeps, 'rateLimits' | 'trustProxy' | 'metrics'> = {},
): TestServer {
  const server = {} as TestServer;
  let http: Server;
  let pool: pg.Pool;
  let authListener: AuthListener;

  beforeAll(async () => {
    const databaseUrl = await createDatabase();
    const log = options.logTo
      ? createLogger('debug', options.logTo)
      : createLogger((process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
    const clock = new ManualClock('2026-03-01T14:00:00.000Z');
    const orm = await initOrm({ clientUrl: databaseUrl, log, poolSize: 20 });
    const hasher = new KeyHasher(TEST_SECRET);
    const { rateLimits, trustProxy, metrics } = options;
    const webhookAddresses = options.webhookAddresses ?? { allowPrivate: false, resolve: offlineResolver };
    const authCache = new AuthCache();
    authListener = await listenForAuthChanges(databaseUrl, authCache, log);
    const app = await createApp({ orm, clock, hasher, log, authCache, checkResponses: true, rateLimits, trustProxy, metrics, webhookAddresses });
    // The node:http server `serve` listens with: its timeouts and refusals before routing.
    http = createHttpServer(app.express, options.transportTimeouts ?? DEFAULT_TRANSPORT_TIMEOUTS, log);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    Object.assign(server, {
      baseUrl: `http://127.0.0.1:${port}`,
      apiUrl: `http://127.0.0.1:${port}/api/v1`,
      client: createClient<paths>({ baseUrl: `http://127.0.0.1:${port}/api/v1` }),
      clock,
      orm,
      databaseUrl,
      sql: async (text: string, values?: unknown[]) => {
        const { rows } = await pool.query(text, values);
        await authListener.sync();
        return rows;
      },
      authCache,
      services: () => new Services(orm.em.fork(), clock, hasher, { authCache, webhookAddresses }),
      contractViolations: app.contractViolations,
    } satisfies TestServer);
  });

  afterEach(() => {
    const violations = server.contractViolations.splice(0);
    expect(violations, 'responses that break the spec').toEqual([]);
  });

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    await authListener?.close();
    await server.orm?.close();
    await pool?.end();
  });

  return server;
}

let seq = 0;

/** A policy and a license under it, made through the domain services (as the CLI does). */
export async function seedLicense(
  server: TestServer,
  options: { maxMachines?: number | null; keyPrefix?: string; expiresAt?: Date | null } = {},
): Promise<SeededLicense> {
  const services = server.services();
  const policy = await services.policies.create({
    name: `policy ${++seq}`,
    maxMachines: options.maxMachines === undefined ? null : options.maxMachines,
    keyPrefix: options.keyPrefix ?? 'TST',
  });
  const { license, key } = await services.licenses.create({ policyId: policy.id, expiresAt: options.expiresAt ?? null });
  return { policyId: policy.id, licenseId: license.id, key };
}

/** A new API key with the given scopes; returns its token. */
export async function seedApiKey(server: TestServer, scopes: Scope[], options: { expiresAt?: Date } = {}): Promise<string> {
  const { token } = await server.services().apiKeys.create({ name: `key ${++seq}`, scopes, expiresAt: options.expiresAt ?? null });
  return token;
}

/**
 * The server's own driver pool, counting the statements sent through it: for the tests that hold
 * a grouped statement (heartbeats, validations) to how many statements it made.
 */
export async function countingPool(server: TestServer): Promise<{ pool: pg.Pool; statements: () => number }> {
  const pool = await server.orm.em.getConnection().getNativeClient();
  let statements = 0;
  const counting = { query: (...args: Parameters<pg.Pool['query']>) => ((statements += 1), pool.query(...args)) } as unknown as pg.Pool;
  return { pool: counting, statements: () => statements };
}

export const licenseAuth = (key: string) => ({ Authorization: `License ${key}` });
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A valid activation body with a fresh fingerprint. */
export function machineBody(overrides: Record<string, unknown> = {}) {
  return { fingerprint: `fp-${randomBytes(8).toString('hex')}`, ...overrides };
}
