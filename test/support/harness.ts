import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import createClient from 'openapi-fetch';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import type { components, paths } from '../../generated/api.d.ts';
import { DEFAULT_TRANSPORT_TIMEOUTS } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { initOrm, migrate, type Orm } from '../../src/db/orm.ts';
import { ENTITIES } from '../../src/entities.ts';
import { CLI_ACTOR } from '../../src/events/actor.ts';
import { type App, type AppDeps, createApp } from '../../src/http/app.ts';
import { createHttpServer, type TransportTimeouts } from '../../src/http/transport.ts';
import { AuthCache, type AuthListener, listenForAuthChanges } from '../../src/keys/auth-cache.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import type { Scope } from '../../src/keys/scopes.ts';
import { createLogger } from '../../src/log.ts';
import { ensureSigningKey } from '../../src/offline/signing-keys.ts';
import { Services } from '../../src/services.ts';
import type { AddressPolicy, Resolver } from '../../src/webhooks/address.ts';

export type ApiClient = ReturnType<typeof createClient<paths>>;

/** The body of every 4xx and 5xx answer (`application/problem+json`). */
export type Problem = components['schemas']['Problem'];

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
  /** The server secret it runs with (what the background parts open webhook secrets with). */
  secrets: string;
  /** Domain services on a fresh unit of work, for seeding; sharing the server's cache. */
  services(): Services;
  contractViolations: string[];
  /** The node:http server: its `headersTimeout` and `requestTimeout` are read at every check. */
  http: Server;
  /** The app it serves: its Express app alone is the API without the hot path (hot-path.ts). */
  app: App;
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
  options: {
    logTo?: NodeJS.WritableStream;
    webhookAddresses?: AddressPolicy;
    transportTimeouts?: TransportTimeouts;
  } & Pick<AppDeps, 'rateLimits' | 'trustProxy' | 'metrics'> = {},
): TestServer {
  const server = {} as TestServer;
  let http: Server;
  let pool: pg.Pool;
  let authListener: AuthListener;
  let app: App;

  beforeAll(async () => {
    const databaseUrl = await createDatabase();
    const log = options.logTo
      ? createLogger('debug', options.logTo)
      : createLogger((process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
    const clock = new ManualClock('2026-03-01T14:00:00.000Z');
    const orm = await initOrm({ clientUrl: databaseUrl, entities: ENTITIES, log, poolSize: 20 });
    // What a server's start does on a migrated database: its first signing key, under the secret.
    await migrate(orm, ensureSigningKey(TEST_SECRET));
    const hasher = new KeyHasher(TEST_SECRET);
    const { rateLimits, trustProxy, metrics } = options;
    const webhookAddresses = options.webhookAddresses ?? { allowPrivate: false, resolve: offlineResolver };
    const authCache = new AuthCache();
    authListener = await listenForAuthChanges(databaseUrl, authCache, log);
    app = await createApp({
      orm,
      clock,
      hasher,
      secret: TEST_SECRET,
      log,
      authCache,
      checkResponses: true,
      rateLimits,
      trustProxy,
      metrics,
      webhookAddresses,
    });
    // The node:http server `serve` listens with: its timeouts and refusals before routing.
    http = createHttpServer(
      app.listener,
      options.transportTimeouts ?? DEFAULT_TRANSPORT_TIMEOUTS,
      log,
      app.responseSigner,
    );
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
      secrets: TEST_SECRET,
      sql: async (text: string, values?: unknown[]) => {
        const { rows } = await pool.query(text, values);
        await authListener.sync();
        return rows;
      },
      authCache,
      services: () =>
        new Services(orm.em.fork(), clock, hasher, CLI_ACTOR, { authCache, webhookAddresses, secret: TEST_SECRET }),
      contractViolations: app.contractViolations,
      http,
      app,
    } satisfies TestServer);
  });

  afterEach(() => {
    const violations = server.contractViolations.splice(0);
    expect(violations, 'responses that break the spec').toEqual([]);
  });

  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
    await app?.close();
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
  const { license, key } = await services.licenses.create({
    policyId: policy.id,
    expiresAt: options.expiresAt ?? null,
  });
  return { policyId: policy.id, licenseId: license.id, key };
}

/** A new API key with the given scopes; returns its token. */
export async function seedApiKey(
  server: TestServer,
  scopes: Scope[],
  options: { expiresAt?: Date } = {},
): Promise<string> {
  const { token } = await server
    .services()
    .apiKeys.create({ name: `key ${++seq}`, scopes, expiresAt: options.expiresAt ?? null });
  return token;
}

/**
 * The server's own driver pool, counting the statements sent through it: for the tests that hold
 * a grouped statement (heartbeats, validations) to how many statements it made.
 */
export async function countingPool(server: TestServer): Promise<{ pool: pg.Pool; statements: () => number }> {
  const pool = await server.orm.em.getConnection().getNativeClient();
  let statements = 0;
  const counting = {
    query: (...args: Parameters<pg.Pool['query']>) => {
      statements += 1;
      return pool.query(...args);
    },
  } as unknown as pg.Pool;
  return { pool: counting, statements: () => statements };
}

/** The Authorization header a request sends: `licenseAuth(key)`, `bearer(token)` or `useApiKey(…)`. */
export type Credentials = Record<string, string>;

export const licenseAuth = (key: string): Credentials => ({ Authorization: `License ${key}` });
export const bearer = (token: string): Credentials => ({ Authorization: `Bearer ${token}` });

/**
 * Bearer credentials for a key with the given scopes, made once before the file's tests (like
 * `useTestServer`, the object is filled in by a `beforeAll`): `const admin = useApiKey(server, ['admin'])`.
 */
export function useApiKey(server: TestServer, scopes: Scope[]): Credentials {
  const credentials: Credentials = {};
  beforeAll(async () => {
    Object.assign(credentials, bearer(await seedApiKey(server, scopes)));
  });
  return credentials;
}

/** A valid activation body with a fresh fingerprint. */
export function machineBody(overrides: Record<string, unknown> = {}) {
  return { fingerprint: `fp-${randomBytes(8).toString('hex')}`, ...overrides };
}

type CreatePolicy = components['schemas']['CreatePolicyRequest'];
type CreateLicense = components['schemas']['CreateLicenseRequest'];
type Machine = components['schemas']['Machine'];

/**
 * A policy and a license under it, made over HTTP with the typed client (as a partner's backend
 * does); `seedLicense` makes them through the domain instead, for tests about something else.
 */
export async function seedPolicyAndLicense(
  server: TestServer,
  credentials: Credentials,
  policy: CreatePolicy,
  license: Omit<Partial<CreateLicense>, 'policyId'> = {},
): Promise<SeededLicense> {
  const p = await server.client.POST('/policies', { headers: credentials, body: policy });
  expect(p.response.status, JSON.stringify(p.error)).toBe(201);
  const l = await server.client.POST('/licenses', {
    headers: credentials,
    body: { ...license, policyId: p.data!.data.id },
  });
  expect(l.response.status, JSON.stringify(l.error)).toBe(201);
  return { policyId: p.data!.data.id, licenseId: l.data!.data.id, key: l.data!.data.key };
}

/** Activates a machine (a fresh fingerprint unless `overrides` names one) and returns it; it must succeed. */
export async function activate(
  server: TestServer,
  key: string,
  overrides: Record<string, unknown> = {},
): Promise<Machine> {
  const { response, data, error } = await server.client.POST('/machines', {
    headers: licenseAuth(key),
    body: machineBody(overrides),
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

/** The ids of `n` machines activated one after another. */
export async function activated(server: TestServer, key: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await activate(server, key)).id);
  return ids;
}

/** How many machines of a license are active, read from the table rather than through the API. */
export async function activeMachines(server: TestServer, licenseId: string): Promise<number> {
  const [row] = await server.sql<{ n: number }>(
    'select count(*)::int as n from machines where license_id = $1 and deleted_at is null',
    [licenseId],
  );
  return row!.n;
}

const STORED_LICENSE_PROCESSES = `(l.process_count + coalesce((select sum(d.delta) from process_count_deltas d where d.license_id = l.id), 0))::int`;
const STORED_MACHINE_PROCESSES = `(m.process_count + coalesce((select sum(d.delta) from process_count_deltas d where d.machine_id = m.id), 0))::int`;

/** Licenses and machines whose stored process count (column plus deltas) differs from a count of their rows. */
export async function processCountDrift(server: TestServer): Promise<unknown[]> {
  return [
    ...(await server.sql(
      `select l.id, ${STORED_LICENSE_PROCESSES} as stored, (select count(*)::int from processes p where p.license_id = l.id) as counted
         from licenses l where ${STORED_LICENSE_PROCESSES} <> (select count(*) from processes p where p.license_id = l.id)`,
    )),
    ...(await server.sql(
      `select m.id, ${STORED_MACHINE_PROCESSES} as stored, (select count(*)::int from processes p where p.machine_id = m.id) as counted
         from machines m where ${STORED_MACHINE_PROCESSES} <> (select count(*) from processes p where p.machine_id = m.id)`,
    )),
  ];
}

/** An activation as a bare response, whatever its status: for storms that tally the answers. */
export function rawActivate(server: TestServer, key: string, body: unknown = machineBody()): Promise<Response> {
  return fetch(`${server.apiUrl}/machines`, {
    method: 'POST',
    headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The paths `/things/{id}` with a GET: what `read` can fetch. */
type ReadablePath = {
  [P in keyof paths]: paths[P] extends { get: { parameters: { path: { id: string } } } } ? P : never;
}[keyof paths];
type ReadData<P extends ReadablePath> = paths[P]['get']['responses'][200]['content']['application/json']['data'];

/** One object by its id, as the API shows it: `read(server, admin, '/machines/{id}', id)`. It must be found. */
export async function read<P extends ReadablePath>(
  server: TestServer,
  credentials: Credentials,
  path: P,
  id: string,
): Promise<ReadData<P>> {
  // The client cannot type a call over a union of paths; each member is called alike, by its id.
  const { response, data, error } = await server.client.GET(path as '/machines/{id}', {
    headers: credentials,
    params: { path: { id } },
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data as ReadData<P>;
}

/** The paths `/things/{id}` with a PATCH: what `patch` can change. */
type PatchablePath = {
  [P in keyof paths]: paths[P] extends { patch: { parameters: { path: { id: string } } } } ? P : never;
}[keyof paths];
type PatchData<P extends PatchablePath> = paths[P]['patch']['responses'][200]['content']['application/json']['data'];

/**
 * A JSON merge patch as a bare response, whatever its status: the body is any JSON, so a test can
 * send what the spec refuses.
 */
export function patch(
  server: TestServer,
  credentials: Credentials,
  path: PatchablePath,
  id: string,
  body: unknown,
): Promise<Response> {
  return fetch(`${server.apiUrl}${path.replace('{id}', encodeURIComponent(id))}`, {
    method: 'PATCH',
    headers: { ...credentials, 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify(body),
  });
}

/** A merge patch that must succeed; returns the changed object. */
export async function patched<P extends PatchablePath>(
  server: TestServer,
  credentials: Credentials,
  path: P,
  id: string,
  body: unknown,
): Promise<PatchData<P>> {
  const response = await patch(server, credentials, path, id, body);
  const answer = (await response.json()) as { data: PatchData<P> };
  expect(response.status, JSON.stringify(answer)).toBe(200);
  return answer.data;
}
