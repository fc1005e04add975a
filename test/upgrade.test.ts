import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import createClient from 'openapi-fetch';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { paths } from '../generated/api.d.ts';
import { runWorkerOnce } from '../src/background.ts';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { initOrm, RENAMED_MIGRATIONS } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { apiTokenHint, generateApiToken } from '../src/keys/api-token.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { generateLicenseKey } from '../src/keys/license-key.ts';
import { createLogger } from '../src/log.ts';
import { openRuntime } from '../src/runtime.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { bearer, licenseAuth, machineBody, type Problem, TEST_SECRET } from './support/harness.ts';
import { Receiver } from './support/receiver.ts';

/**
 * The migrations a database made by the release of 2026-12-04 has run, under the names it
 * recorded them by, in the order it ran them. Frozen: a migration added since is one such a
 * database has not run, and the upgrade below must run it.
 */
const RELEASE_2026_12_04 = [
  'Migration20261127000000_initial',
  'Migration20261127010000_management',
  'Migration20261127020000_heartbeats',
  'Migration20261129000000_abuse',
  'Migration20261129000000_events',
  'Migration20261129010000_webhooks',
  'Migration20261129000000_hot_paths',
];

const nameNow = (recorded: string) => RENAMED_MIGRATIONS[recorded] ?? recorded;

let databaseUrl: string;
let db: pg.Client;
/** Every migration the code holds, by name, in the order it runs them. */
let migrations: string[];

/** A blank database of this run (dropped by the run's teardown), migrated as that release did. */
beforeAll(async () => {
  const name = `${inject('databasePrefix')}upgrade_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: inject('serverUrl') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(inject('serverUrl'));
  url.pathname = `/${name}`;
  databaseUrl = url.toString();

  const orm = await initOrm({ clientUrl: databaseUrl, entities: ENTITIES, log: createLogger('silent'), poolSize: 2 });
  try {
    migrations = (orm.config.get('migrations').migrationsList ?? []).map((m) =>
      typeof m === 'function' ? m.name : m.name!,
    );
    // The release's schema, from the migrations as they are now: a rename changed no migration.
    await orm.migrator.up({ migrations: RELEASE_2026_12_04.map(nameNow) });
  } finally {
    await orm.close();
  }
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  // …recorded under the names that release knew them by.
  for (const recorded of RELEASE_2026_12_04)
    await db.query('update mikro_orm_migrations set name = $1 where name = $2', [recorded, nameNow(recorded)]);
});

afterAll(async () => {
  await db?.end();
});

const recorded = async () =>
  (await db.query<{ id: number; name: string; executed_at: Date }>('select * from mikro_orm_migrations order by id'))
    .rows;

describe('the migrations', () => {
  it('are named in the order they run, each with a timestamp of its own', () => {
    expect(migrations).toEqual([...migrations].sort());
    const timestamps = migrations.map((name) => /^Migration(\d{14})_[a-z_]+$/.exec(name)?.[1]);
    expect(timestamps).not.toContain(undefined);
    expect(new Set(timestamps).size).toBe(migrations.length);
  });

  it('hold every migration of the 2026-12-04 release, under its name or the one it was renamed to, in its order', () => {
    const held = RELEASE_2026_12_04.map(nameNow);
    expect(migrations.slice(0, held.length)).toEqual(held);
    for (const [from, to] of Object.entries(RENAMED_MIGRATIONS)) {
      expect(migrations).not.toContain(from);
      expect(migrations).toContain(to);
    }
  });
});

describe('a database made by the 2026-12-04 release', () => {
  const hasher = new KeyHasher(TEST_SECRET);
  const token = generateApiToken();
  const key = generateLicenseKey('OLD');
  const licenseId = uuidv7();
  const machineIds = [uuidv7(), uuidv7()];
  const endpointId = uuidv7();
  const apiKeyId = uuidv7();
  const policyId = uuidv7();
  /** A term that ends long after the test: the license stays valid, and keeps this expiry. */
  const expiresAt = new Date(Date.now() + 365 * 24 * 3_600_000);
  expiresAt.setUTCMilliseconds(0);
  let eventId: string;
  let server: RunningServer | undefined;
  const logLines: { msg?: string; migrations?: string[] }[] = [];
  /** A logger whose lines land in `logLines`. */
  const collecting = () => {
    const stream = new PassThrough();
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (const line of buffered.split('\n').slice(0, -1)) logLines.push(JSON.parse(line));
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    return createLogger('info', stream);
  };
  const start = () =>
    startServer(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        LICENTRIC_SECRET: TEST_SECRET,
        LICENTRIC_WEBHOOKS_IN_SERVER: 'false',
      }),
      collecting(),
    );

  afterAll(async () => {
    await server?.stop();
  });

  it('starts the server the normal way, which runs each migration it lacks once, and serves its rows as before', async () => {
    expect((await recorded()).map((m) => m.name)).toEqual(RELEASE_2026_12_04);
    const before = await recorded();

    // Rows of every kind, as that release's schema holds them.
    await db.query(
      `insert into api_keys (id, name, token_hash, token_hint, scopes, created_at)
       values ($1, 'made before the upgrade', $2, $3, '{admin}', now())`,
      [apiKeyId, hasher.hash('api-key', token), apiTokenHint(token)],
    );
    await db.query(
      `insert into policies (id, name, max_machines, key_prefix, metadata, require_heartbeat, heartbeat_duration,
                             heartbeat_cull_strategy, heartbeat_resurrection_window, created_at, updated_at)
       values ($1, 'made before the upgrade', 2, 'OLD', '{}', false, 600, 'DEACTIVATE_DEAD', 0, now(), now())`,
      [policyId],
    );
    await db.query(
      `insert into licenses (id, policy_id, key_hash, key_hint, name, metadata, expires_at, created_at, updated_at)
       values ($1, $2, $3, $4, 'old', '{"seat":"a"}', $5, now(), now())`,
      [licenseId, policyId, hasher.hash('license-key', key), `OLD-…-${key.slice(-5)}`, expiresAt],
    );
    // One machine says its cores, the other does not (it counts as one).
    for (const [i, id] of machineIds.entries())
      await db.query(
        `insert into machines (id, license_id, fingerprint, cores, metadata, last_heartbeat_at, created_at, updated_at)
         values ($1, $2, $3, $4, '{}', now(), now(), now())`,
        [id, licenseId, `old-machine-${i}`, i === 0 ? 4 : null],
      );
    await db.query(
      `insert into webhook_endpoints (id, url, description, event_types, enabled, secret, created_at, updated_at)
       values ($1, 'https://hooks.example.com/old', 'old', '{machine.activated}', true, $2, now(), now())`,
      [endpointId, `whsec_${randomBytes(24).toString('base64')}`],
    );
    eventId = (
      await db.query<{ id: string }>(
        `insert into events (type, occurred_at, license_id, machine_id, data, relayed_at)
         values ('machine.activated', now(), $1, $2, '{"machine":{"id":"${machineIds[0]}"}}', now())
         returning id::text as id`,
        [licenseId, machineIds[0]],
      )
    ).rows[0]!.id;

    server = await start();

    // The migrations since that release ran, and none of its own ran again: their rows are the
    // ones it wrote, under today's names.
    const missing = migrations.filter((name) => !RELEASE_2026_12_04.map(nameNow).includes(name));
    const applied = logLines.find((line) => line.msg === 'migrations applied')?.migrations ?? [];
    expect(applied).toEqual(missing);
    const after = await recorded();
    expect(after.map((m) => m.name)).toEqual(migrations);
    expect(after.slice(0, before.length)).toEqual(before.map((m) => ({ ...m, name: nameNow(m.name) })));

    const api = createClient<paths>({ baseUrl: `http://127.0.0.1:${server.port}/api/v1` });
    const admin = bearer(token);

    const validation = await api.POST('/licenses/actions/validate', { headers: licenseAuth(key) });
    expect(validation.response.status).toBe(200);
    expect(validation.data!.data).toMatchObject({
      valid: true,
      code: 'VALID',
      license: { id: licenseId, productId: null, expiresAt: expiresAt.toISOString() },
      entitlements: [],
      missingEntitlements: [],
    });

    // Every setting added since reads as the behaviour the policy had: no product, no core limit,
    // no overage, machines unique per license, no duration, an expiry that restricts, and files
    // of a month that always expire.
    const policy = await api.GET('/policies/{id}', { headers: admin, params: { path: { id: policyId } } });
    expect(policy.response.status).toBe(200);
    expect(policy.data!.data).toMatchObject({
      maxMachines: 2,
      productId: null,
      maxCores: null,
      overageStrategy: 'NO_OVERAGE',
      machineUniquenessStrategy: 'UNIQUE_PER_LICENSE',
      duration: null,
      expirationBasis: 'FROM_CREATION',
      expirationStrategy: 'RESTRICT_ACCESS',
      renewalBasis: 'FROM_NOW_IF_EXPIRED',
      machineMatchingStrategy: 'MATCH_ANY',
      checkOutTtl: 2592000,
      allowNonExpiringFiles: false,
    });
    // The first signing key was made by the upgrade: an old machine checks out a file at once.
    const file = await api.POST('/machines/{id}/actions/check-out', {
      headers: licenseAuth(key),
      params: { path: { id: machineIds[0]! } },
    });
    expect(file.response.status, JSON.stringify(file.error)).toBe(200);
    expect(file.data).toMatchObject({ data: { ttl: 2592000, algorithm: 'aes-256-gcm+ed25519' } });
    const entitlements = await api.GET('/licenses/{id}/entitlements', {
      headers: admin,
      params: { path: { id: licenseId } },
    });
    expect(entitlements.data!.data).toEqual([]);

    const apiKey = await api.GET('/api-keys/{id}', { headers: admin, params: { path: { id: apiKeyId } } });
    expect(apiKey.response.status).toBe(200);
    expect(apiKey.data!.data).toMatchObject({ id: apiKeyId, productId: null, scopes: ['admin'] });

    const listed = await api.GET('/machines', { headers: admin, params: { query: { licenseId } } });
    expect(listed.response.status).toBe(200);
    expect(listed.data!.data.map((m) => m.id)).toEqual(machineIds);

    const license = await api.GET('/licenses/{id}', { headers: admin, params: { path: { id: licenseId } } });
    expect(license.data!.data).toMatchObject({
      machineCount: 2,
      coreCount: 5,
      productId: null,
      expiresAt: expiresAt.toISOString(),
      metadata: { seat: 'a' },
    });

    const third = await api.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
    expect(third.response.status).toBe(422);
    expect((third.error as Problem).code).toBe('MACHINE_LIMIT_EXCEEDED');

    const event = await api.GET('/events/{id}', { headers: admin, params: { path: { id: eventId } } });
    expect(event.data!.data).toMatchObject({ id: eventId, type: 'machine.activated', machineId: machineIds[0] });

    const endpoints = await api.GET('/webhook-endpoints', { headers: admin });
    expect(endpoints.data!.data).toEqual([
      expect.objectContaining({ id: endpointId, eventTypes: ['machine.activated'], enabled: true }),
    ]);
  });

  it('starts again without running anything', async () => {
    await server?.stop();
    server = undefined;
    const before = await recorded();
    logLines.length = 0;
    server = await start();
    expect(logLines.map((line) => line.msg)).toContain('listening');
    expect(logLines.filter((line) => line.msg === 'migrations applied')).toEqual([]);
    expect(await recorded()).toEqual(before);
  });
});

/**
 * The previous published release: the commit this project's history was published at before the
 * current work (no release is tagged). Its database is not rebuilt from today's migrations but
 * was made by that commit's own code, served as released and filled through its API, and dumped
 * by PostgreSQL's pg_dump (test/upgrade/make-fixture.sh, which remakes it from git history).
 * The fixture's JSON holds the keys the release issued and every object as it answered it.
 */
const RELEASE = 'bdbe98d';

interface Fixture {
  release: string;
  secret: string;
  token: string;
  licenseKeys: Record<string, string>;
  [objects: string]: unknown;
}
type Row = Record<string, unknown> & { id: string };

/** The shape of a database's own schema (not pg-boss's): columns, indexes, constraints, functions, triggers. */
async function schemaOf(url: string): Promise<Record<string, unknown[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = async (sql: string) => (await client.query({ text: sql, rowMode: 'array' })).rows;
    return {
      columns: await rows(`select table_name, column_name, data_type, udt_name, column_default, is_nullable,
                                  character_maximum_length, numeric_precision
                             from information_schema.columns where table_schema = 'public' order by 1, 2`),
      indexes: await rows(
        `select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by 1, 2`,
      ),
      constraints: await rows(`select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                                 from pg_constraint where connamespace = 'public'::regnamespace order by 1, 2`),
      functions: await rows(`select proname, pg_get_functiondef(oid) from pg_proc
                              where pronamespace = 'public'::regnamespace order by 1, 2`),
      // A trigger's condition comes back from a dump with its nested ORs flattened: the same
      // condition, in fewer parentheses.
      triggers: (
        await rows(`select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) from pg_trigger
                     where not tgisinternal and tgrelid::regclass::text not like 'pgboss.%' order by 1, 2`)
      ).map(([table, name, definition]) => [table, name, String(definition).replace(/[()\s]/g, '')]),
    };
  } finally {
    await client.end();
  }
}

describe(`a database made by the release at ${RELEASE}, with its own code`, () => {
  const dir = path.join(import.meta.dirname, 'upgrade');
  const fixture = JSON.parse(readFileSync(path.join(dir, `release-${RELEASE}.json`), 'utf8')) as Fixture;
  const old = <T = Row>(name: string) => fixture[name] as T[];
  let url: string;
  let server: RunningServer | undefined;
  const logLines: { msg?: string; migrations?: string[] }[] = [];

  beforeAll(async () => {
    const name = `${inject('databasePrefix')}release_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: inject('serverUrl') });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const target = new URL(inject('serverUrl'));
    target.pathname = `/${name}`;
    url = target.toString();
    // pg_dump's SQL, less psql's own commands (\restrict), in one simple-protocol query.
    const sql = readFileSync(path.join(dir, `release-${RELEASE}.sql`), 'utf8')
      .split('\n')
      .filter((line) => !line.startsWith('\\'))
      .join('\n');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('was made by that release', () => {
    expect(fixture.release.startsWith(RELEASE)).toBe(true);
  });

  it('migrates forward on start to the schema of a new database, and keeps every behaviour of the release', async () => {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const names = async () =>
      (await db.query<{ name: string }>('select name from mikro_orm_migrations order by id')).rows;
    const released = (await names()).map((m) => m.name);
    expect(released.length).toBeGreaterThan(0);

    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
    });
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: url,
      LICENTRIC_SECRET: fixture.secret,
      // Nothing culls or delivers behind the test's back: what it reads is what the start made.
      LICENTRIC_WORKER_IN_SERVER: 'false',
      LICENTRIC_WEBHOOKS_IN_SERVER: 'false',
      // The test's receiver listens on loopback.
      LICENTRIC_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    server = await startServer(config, createLogger('info', stream));
    const allMigrations = (await names()).map((m) => m.name);
    await db.end();
    // Each migration since the release ran once, and the release's own stayed as they were.
    expect(allMigrations).toEqual(migrations);
    const since = migrations.filter((name) => !released.map(nameNow).includes(name));
    expect(logLines.find((line) => line.msg === 'migrations applied')?.migrations ?? []).toEqual(since);
    // An upgraded database is a new one: no migration does on an old database what it does not on a new.
    const fresh = new URL(inject('serverUrl'));
    fresh.pathname = `/${inject('templateDatabase')}`;
    expect(await schemaOf(url)).toEqual(await schemaOf(fresh.toString()));

    const api = createClient<paths>({ baseUrl: `http://127.0.0.1:${server.port}/api/v1` });
    const admin = bearer(fixture.token);
    const get = async <T>(route: string): Promise<T> => {
      const response = await fetch(`http://127.0.0.1:${server!.port}/api/v1${route}`, { headers: admin });
      expect(response.status, route).toBe(200);
      return ((await response.json()) as { data: T }).data;
    };
    const list = (route: string, paged = true) => get<Row[]>(`${route}${paged ? '?limit=100' : ''}`);
    const read = (route: string) => get<Row>(route);
    const same = (rows: Row[]) => rows.map((row) => expect.objectContaining(row));
    /** What a read computes from the clock (a heartbeat's state), or a use since changes. */
    const lasting = (row: Row, ...moving: string[]) =>
      Object.fromEntries(Object.entries(row).filter(([field]) => !moving.includes(field)));

    // Every object reads as the release answered it; fields added since are extra.
    expect(await list('/products')).toEqual(same(old('products')));
    expect(await list('/entitlements')).toEqual(same(old('entitlements')));
    expect(await list('/policies')).toEqual(same(old('policies')));
    expect(await list('/webhook-endpoints')).toEqual(same(old('webhookEndpoints')));
    expect(await list('/signing-keys', false)).toEqual(same(old('signingKeys')));
    expect(await list('/api-keys')).toEqual(same(old('apiKeys').map((k) => lasting(k, 'lastUsedAt') as Row)));
    for (const license of old('licenses'))
      expect(await read(`/licenses/${license.id}`)).toEqual(expect.objectContaining(license));
    for (const machine of old('machines')) {
      const moving = machine.heartbeatStatus === 'NOT_REQUIRED' ? [] : ['heartbeatStatus', 'nextHeartbeatAt'];
      expect(await read(`/machines/${machine.id}`)).toEqual(expect.objectContaining(lasting(machine, ...moving)));
    }
    for (const process of old('processes'))
      expect(await read(`/processes/${process.id}`)).toEqual(
        expect.objectContaining(lasting(process, 'heartbeatStatus', 'nextHeartbeatAt')),
      );
    expect(await list('/events')).toEqual(expect.arrayContaining(same(old('events'))));
    const [acme, farm] = old<Row & { policyId: string }>('licenses');
    expect(await list(`/licenses/${acme!.id}/entitlements`, false)).toEqual(same(old('licenseEntitlements')));

    // Every key the release issued authenticates.
    for (const [licenseId, key] of Object.entries(fixture.licenseKeys)) {
      const validation = await api.POST('/licenses/actions/validate', { headers: licenseAuth(key) });
      expect(validation.response.status).toBe(200);
      expect(validation.data!.data).toMatchObject({ valid: true, code: 'VALID', license: { id: licenseId } });
    }
    // Its machines heartbeat, and check out files signed by the release's own signing key.
    const key = (license: Row) => fixture.licenseKeys[license.id]!;
    for (const machine of old('machines').filter((m) => m.heartbeatStatus === 'NOT_REQUIRED')) {
      const license = old('licenses').find((l) => l.id === machine.licenseId)!;
      const beat = await api.POST('/machines/{id}/heartbeat', {
        headers: licenseAuth(key(license)),
        params: { path: { id: machine.id } },
      });
      expect(beat.response.status).toBe(200);
    }
    const acmeMachine = old('machines').find((m) => m.licenseId === acme!.id)!;
    const file = await api.POST('/machines/{id}/actions/check-out', {
      headers: licenseAuth(key(acme!)),
      params: { path: { id: acmeMachine.id } },
    });
    expect(file.response.status, JSON.stringify(file.error)).toBe(200);
    expect((file.data as { data: { keyId: string } }).data.keyId).toBe(old('signingKeys')[0]!.id);

    // Its limits hold: two machines, and two processes at once.
    const third = await api.POST('/machines', { headers: licenseAuth(key(acme!)), body: machineBody() });
    expect(third.response.status).toBe(422);
    expect((third.error as Problem).code).toBe('MACHINE_LIMIT_EXCEEDED');
    const farmMachine = old('machines').find((m) => m.licenseId === farm!.id)!;
    const [oldProcess] = old('processes');
    const alive = (await read(`/processes/${oldProcess!.id}`)).heartbeatStatus === 'ALIVE' ? 1 : 0;
    const spawned: number[] = [];
    for (let i = 0; i < 3; i++) {
      const made = await api.POST('/machines/{id}/processes', {
        headers: licenseAuth(key(farm!)),
        params: { path: { id: farmMachine.id } },
        body: {},
      });
      spawned.push(made.response.status);
      if (made.response.status !== 201) expect((made.error as Problem).code).toBe('PROCESS_LIMIT_EXCEEDED');
    }
    expect(spawned.filter((status) => status === 201)).toHaveLength(2 - alive);

    // Its webhook endpoint signs with the secret the release gave it.
    const receiver = new Receiver();
    await receiver.start();
    const runtime = await openRuntime(config, createLogger('silent'), { poolSize: 2 });
    try {
      receiver.secrets.set('/old', [fixture.webhookSecret as string]);
      const [endpoint] = old('webhookEndpoints');
      const moved = await api.PATCH('/webhook-endpoints/{id}', {
        headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
        params: { path: { id: endpoint!.id } },
        body: { url: `${receiver.url}/old` },
      });
      expect(moved.response.status, JSON.stringify(moved.error)).toBe(200);
      const test = await api.POST('/webhook-endpoints/{id}/actions/send-test', {
        headers: admin,
        params: { path: { id: endpoint!.id } },
      });
      expect(test.response.status).toBe(202);
      await runWorkerOnce(runtime, config, systemClock, createLogger('silent'));
      // The test, and the events the release recorded for it and had not yet relayed.
      expect(receiver.refused).toEqual([]);
      expect(new Set(receiver.at('/old').map((delivery) => delivery.payload.type))).toEqual(
        new Set(['webhook-endpoint.test', 'machine.activated', 'license.suspended']),
      );
    } finally {
      await runtime.close();
      await receiver.stop();
    }
  });
});
