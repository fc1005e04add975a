import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { announceExpiredLicenses } from '../src/licenses/expiry.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import { Services } from '../src/services.ts';
import { createWebhookEngine, type WebhookEngine } from '../src/webhooks/engine.ts';
import {
  activate,
  bearer,
  type Credentials,
  licenseAuth,
  type Problem,
  seedPolicyAndLicense,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';
import { Receiver } from './support/receiver.ts';

type Event = components['schemas']['Event'];
type Scope = components['schemas']['Scope'];

const server = useTestServer({ webhookAddresses: { allowPrivate: true } });
const admin = useApiKey(server, ['admin']);
const silent = createLogger('silent');

/** An API key made over HTTP, with its id (what its events name) and its header. */
async function apiKey(scopes: Scope[]): Promise<{ id: string; auth: Credentials }> {
  const { data, response } = await server.client.POST('/api-keys', {
    headers: admin,
    body: { name: `actor ${scopes.join(' ')}`, scopes },
  });
  expect(response.status).toBe(201);
  return { id: data!.data.id, auth: bearer(data!.data.token) };
}

async function events(query: NonNullable<Parameters<typeof list>[0]>): Promise<Event[]> {
  const { data, response } = await list(query);
  expect(response.status).toBe(200);
  return data!.data;
}

function list(query: {
  type?: Event['type'];
  licenseId?: string;
  machineId?: string;
  actorType?: 'apiKey' | 'license' | 'worker' | 'cli';
  actorId?: string;
  cursor?: string;
  limit?: number;
}) {
  return server.client
    .GET('/events', { headers: admin, params: { query: { limit: 100, ...query } } })
    .then(({ data, response }) => ({ data: data && { data: data.data, pagination: data.pagination }, response }));
}

const actorsOf = (list: Event[]) => list.map((e) => [e.type, e.actor]);

let seq = 0;
const policy = (extra: Record<string, unknown> = {}) => ({ name: `actors ${++seq}`, ...extra });

describe('every event names its actor', () => {
  it('a suspension by API key A names A, not the key that made the license', async () => {
    const a = await apiKey(['licenses:write']);
    const { licenseId } = await seedPolicyAndLicense(server, admin, policy());
    const suspended = await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: a.auth,
      params: { path: { id: licenseId } },
    });
    expect(suspended.response.status).toBe(200);
    const { data: got } = await server.client.GET('/events', {
      headers: admin,
      params: { query: { licenseId, type: 'license.suspended' } },
    });
    expect(got!.data.map((e) => e.actor)).toEqual([{ type: 'apiKey', id: a.id }]);
    const [created] = await events({ licenseId, type: 'license.created' });
    expect(created!.actor).toMatchObject({ type: 'apiKey' });
    expect(created!.actor!.id).not.toBe(a.id);
    // One event read alone shows it the same way.
    const one = await server.client.GET('/events/{id}', { headers: admin, params: { path: { id: created!.id } } });
    expect(one.data!.data.actor).toEqual(created!.actor);
  });

  it('what a license key does names the license: activation, overage, process, resurrection, deactivation', async () => {
    const t0 = new Date('2031-05-01T00:00:00.000Z').getTime();
    server.clock.set(new Date(t0));
    const { licenseId, key } = await seedPolicyAndLicense(
      server,
      admin,
      policy({
        maxMachines: 1,
        overageStrategy: 'ALWAYS_ALLOW_OVERAGE',
        requireHeartbeat: true,
        heartbeatDuration: 600,
        heartbeatResurrectionWindow: 3600,
        heartbeatCullStrategy: 'KEEP_DEAD',
      }),
    );
    const first = await activate(server, key);
    const second = await activate(server, key);
    const spawned = await server.client.POST('/machines/{id}/processes', {
      headers: licenseAuth(key),
      params: { path: { id: first.id } },
      body: { pid: 'p-1' },
    });
    expect(spawned.response.status).toBe(201);
    // Dead, then revived by its license's heartbeat: the grouped heartbeat statement writes it.
    server.clock.set(new Date(t0 + 1200_000));
    const beat = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: second.id } },
    });
    expect(beat.data!.data.heartbeatStatus).toBe('RESURRECTED');
    const deactivated = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id: first.id } },
    });
    expect(deactivated.response.status).toBe(200);

    const license = { type: 'license', id: licenseId };
    const byType = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    expect(actorsOf(await events({ licenseId })).sort(byType)).toEqual(
      [
        ['license.created', { type: 'apiKey', id: expect.any(String) }],
        ['machine.activated', license],
        ['machine.activated', license],
        ['license.overage', license],
        ['process.spawned', license],
        ['machine.heartbeat.resurrected', license],
        // Released by the deactivation's own statement, with the machine.
        ['process.released', license],
        ['machine.deactivated', license],
      ].sort(byType),
    );
  });

  it("a license's deletion names the deleting key on the deactivations it brings", async () => {
    const deleter = await apiKey(['licenses:write']);
    const { licenseId, key } = await seedPolicyAndLicense(server, admin, policy());
    await activate(server, key);
    const deleted = await server.client.DELETE('/licenses/{id}', {
      headers: deleter.auth,
      params: { path: { id: licenseId } },
    });
    expect(deleted.response.status).toBe(200);
    expect(actorsOf(await events({ licenseId, actorId: deleter.id }))).toEqual([
      ['machine.deactivated', { type: 'apiKey', id: deleter.id }],
      ['license.deleted', { type: 'apiKey', id: deleter.id }],
    ]);
  });

  it('what the worker does names the worker, with no id: culling and expiry', async () => {
    const t0 = new Date('2032-05-01T00:00:00.000Z').getTime();
    server.clock.set(new Date(t0));
    const { licenseId, key } = await seedPolicyAndLicense(
      server,
      admin,
      policy({ requireHeartbeat: true, heartbeatDuration: 600 }),
      { expiresAt: new Date(t0 + 3600_000).toISOString() },
    );
    const machine = await activate(server, key);
    const later = new Date(t0 + 7200_000);
    await cullPass(server.orm.em.fork(), new ManualClock(later), silent);
    await announceExpiredLicenses(server.orm.em.fork(), later);
    const worker = { type: 'worker', id: null };
    expect(actorsOf(await events({ licenseId, actorType: 'worker' }))).toEqual([
      ['machine.deactivated', worker],
      ['license.expired', worker],
    ]);
    const [culled] = await events({ machineId: machine.id, type: 'machine.deactivated' });
    expect(culled!.data.reason).toBe('HEARTBEAT_DEAD');
  });

  it('a CLI command names the CLI, with no id', { timeout: 300_000 }, async () => {
    const before = (await events({ type: 'signing-key.rotated' })).length;
    const rotated = await runCli(['signing-keys', 'rotate', '--json'], {
      DATABASE_URL: server.databaseUrl,
      LICENTRIC_SECRET: TEST_SECRET,
      LOG_LEVEL: 'warn',
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    const id = (JSON.parse(rotated.stdout) as { id: string }).id;
    const after = await events({ type: 'signing-key.rotated' });
    expect(after).toHaveLength(before + 1);
    const made = after.at(-1)!;
    expect((made.data.signingKey as { id: string }).id).toBe(id);
    expect(made.actor).toEqual({ type: 'cli', id: null });
  });

  it('events from before actors were recorded show actor null, and no actor filter lists them', async () => {
    const [row] = await server.sql<{ id: string }>(
      `insert into events (type, occurred_at, data) values ('policy.deleted', now(), '{}') returning id::text`,
    );
    const { data } = await server.client.GET('/events/{id}', { headers: admin, params: { path: { id: row!.id } } });
    expect(data!.data.actor).toBeNull();
    for (const actorType of ['apiKey', 'license', 'worker', 'cli'] as const)
      expect((await events({ actorType, cursor: String(Number(row!.id) - 1) })).map((e) => e.id)).not.toContain(
        row!.id,
      );
  });

  it('services that act for no one (a request before authentication) write no event, and no change', async () => {
    const anonymous = new Services(server.orm.em.fork(), server.clock, new KeyHasher(TEST_SECRET), null);
    const name = `nobody ${++seq}`;
    await expect(anonymous.policies.create({ name })).rejects.toThrow(/act for no one/);
    expect(await server.sql('select id from policies where name = $1', [name])).toEqual([]);
  });

  it('the table refuses an actor that is not one of the four shapes', async () => {
    for (const [type, id] of [
      ['apiKey', null],
      ['worker', '019ad5a0-0000-7000-8000-000000000001'],
      ['robot', null],
    ])
      await expect(
        server.sql(
          `insert into events (type, occurred_at, actor_type, actor_id, data) values ('policy.deleted', now(), $1, $2, '{}')`,
          [type, id],
        ),
      ).rejects.toThrow(/events_actor_check/);
  });
});

describe('GET /events?actorId= and ?actorType=', () => {
  it("lists only that actor's events, in pages", async () => {
    const a = await apiKey(['policies:write']);
    const b = await apiKey(['policies:write']);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const key of [a, b]) {
        const { data } = await server.client.POST('/policies', { headers: key.auth, body: policy() });
        if (key === b) made.push(data!.data.id);
      }
    }
    const pages: Event[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const { data } = await list({ actorId: b.id, limit: 2, ...(cursor ? { cursor } : {}) });
      pages.push(data!.data);
      if (!data!.pagination.hasMore) break;
      cursor = data!.pagination.nextCursor!;
    }
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const all = pages.flat();
    expect(all.every((e) => e.actor?.type === 'apiKey' && e.actor.id === b.id)).toBe(true);
    expect(all.map((e) => (e.data.policy as { id: string }).id)).toEqual(made);
    // Combined with the type filter, and with an actor type that contradicts it: nothing.
    expect((await events({ actorId: b.id, actorType: 'apiKey', type: 'policy.created' })).length).toBe(5);
    expect(await events({ actorId: b.id, actorType: 'license' })).toEqual([]);
  });

  it('is served by an index in id order, for either filter', async () => {
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    try {
      // The table is small here: without this the planner would rightly read all of it.
      await client.query('set enable_seqscan = off');
      for (const [where, index] of [
        [`actor_id = '019ad5a0-0000-7000-8000-000000000001'`, 'events_actor_id_id_index'],
        [`actor_type = 'cli'`, 'events_actor_type_id_index'],
      ]) {
        const { rows } = await client.query(
          `explain (format json) select id from events where ${where} and id > 1 order by id limit 26`,
        );
        const plan = JSON.stringify(rows[0]);
        expect(plan, where).toContain(index!);
        expect(plan, where).not.toContain('"Sort"');
      }
    } finally {
      await client.end();
    }
  });

  it('refuses a malformed actorId or an unknown actorType with 400 VALIDATION_FAILED', async () => {
    for (const query of ['actorId=not-a-uuid', 'actorType=robot', 'actorType=APIKEY', 'actorId=']) {
      const response = await fetch(`${server.apiUrl}/events?${query}`, { headers: admin });
      expect(response.status, query).toBe(400);
      const problem = (await response.json()) as Problem;
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors?.[0]?.pointer, query).toMatch(/^\/query\/actor(Id|Type)$/);
    }
  });
});

describe('webhook payloads', () => {
  const receiver = new Receiver();
  let engine: WebhookEngine;
  beforeAll(async () => {
    // Delivery jobs are due at the clock's instant, which pg-boss compares with its own: not in
    // the future the tests above moved the clock to.
    server.clock.set(new Date('2026-03-01T14:00:00.000Z'));
    await receiver.start();
    engine = createWebhookEngine({
      databaseUrl: server.databaseUrl,
      orm: server.orm,
      clock: server.clock,
      log: silent,
      secrets: server.secrets,
      policy: { allowPrivate: true },
      timeoutMs: 500,
      failureThreshold: 100,
      random: () => 0.5,
    });
    // What came before this endpoint goes to nobody.
    await engine.runDue();
  });
  afterAll(async () => {
    await engine.stop();
    await receiver.stop();
  });

  it('carry the actor as GET /events shows it, and a test message names the key that sent it', async () => {
    const hooks = await apiKey(['webhooks:write']);
    const { data } = await server.client.POST('/webhook-endpoints', {
      headers: hooks.auth,
      body: { url: `${receiver.url}/actors`, eventTypes: ['license.suspended', 'machine.activated'] },
    });
    receiver.secrets.set('/actors', [data!.data.secret]);
    const suspender = await apiKey(['licenses:write']);
    const { licenseId, key } = await seedPolicyAndLicense(server, admin, policy());
    await activate(server, key);
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: suspender.auth,
      params: { path: { id: licenseId } },
    });
    const sent = await server.client.POST('/webhook-endpoints/{id}/actions/send-test', {
      headers: hooks.auth,
      params: { path: { id: data!.data.id } },
    });
    expect(sent.response.status).toBe(202);
    await engine.runDue();

    const payloads = receiver.at('/actors').map((r) => r.payload);
    const byType = Object.fromEntries(payloads.map((p) => [p.type, p.actor]));
    expect(byType).toEqual({
      'machine.activated': { type: 'license', id: licenseId },
      'license.suspended': { type: 'apiKey', id: suspender.id },
      'webhook-endpoint.test': { type: 'apiKey', id: hooks.id },
    });
  });
});
