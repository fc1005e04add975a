import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { createLogger } from '../src/log.ts';
import { workerPass } from '../src/worker.ts';
import {
  bearer,
  licenseAuth,
  machineBody,
  type Problem,
  patched,
  seedApiKey,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type Event = components['schemas']['Event'];

const server = useTestServer();
const silent = createLogger('silent');
const admin = useApiKey(server, ['admin']);
const reader = useApiKey(server, ['events:read']);

/** Every event after `after` the key may see, through the API, following the cursor page by page. */
async function eventsAfter(
  after: string | undefined,
  query: Record<string, string | number> = {},
  headers = reader,
): Promise<Event[]> {
  const events: Event[] = [];
  let cursor = after;
  for (;;) {
    const { data, response } = await server.client.GET('/events', {
      headers,
      params: { query: { ...query, cursor, limit: 2 } as never },
    });
    expect(response.status).toBe(200);

    events.push(...data!.data);
    if (!data!.pagination.hasMore) return events;
    cursor = data!.pagination.nextCursor!;
  }
}

const lastEventId = async () =>
  (await server.sql<{ id: string | null }>('select max(id)::text as id from events'))[0]!.id ?? undefined;

const worker = (now: string) => workerPass(server.orm, new ManualClock(now), silent);

describe('events', () => {
  it('every change writes its event, carrying the object as the API shows it at that instant', async () => {
    const start = await lastEventId();
    const expected: { type: string; key: string; object: unknown; extra?: Record<string, unknown> }[] = [];
    const get = {
      policy: async (id: string) =>
        (await server.client.GET('/policies/{id}', { headers: admin, params: { path: { id } } })).data!.data,
      license: async (id: string) =>
        (await server.client.GET('/licenses/{id}', { headers: admin, params: { path: { id } } })).data!.data,
      machine: async (id: string) =>
        (await server.client.GET('/machines/{id}', { headers: admin, params: { path: { id } } })).data!.data,
      apiKey: async (id: string) =>
        (await server.client.GET('/api-keys/{id}', { headers: admin, params: { path: { id } } })).data!.data,
    };

    server.clock.set('2026-04-01T10:00:00.000Z');
    const policy = (
      await server.client.POST('/policies', {
        headers: admin,
        body: {
          name: 'evt',
          requireHeartbeat: true,
          heartbeatDuration: 600,
          heartbeatCullStrategy: 'KEEP_DEAD',
          heartbeatResurrectionWindow: 600,
        },
      })
    ).data!.data;
    expected.push({ type: 'policy.created', key: 'policy', object: await get.policy(policy.id) });
    server.clock.advance(1000);
    await patched(server, admin, '/policies/{id}', policy.id, { metadata: { tier: 'gold', nul: 'a\u0000b' } });
    expected.push({ type: 'policy.updated', key: 'policy', object: await get.policy(policy.id) });

    server.clock.advance(1000);
    const created = (
      await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id, name: 'Acme' } })
    ).data!.data;
    expected.push({ type: 'license.created', key: 'license', object: await get.license(created.id) });
    server.clock.advance(1000);
    await patched(server, admin, '/licenses/{id}', created.id, { name: 'Acme Corp' });
    expected.push({ type: 'license.updated', key: 'license', object: await get.license(created.id) });

    server.clock.advance(1000);
    const machine = (
      await server.client.POST('/machines', {
        headers: licenseAuth(created.key),
        body: machineBody({ metadata: { nul: '\u0000' } }),
      })
    ).data!.data;
    expected.push({ type: 'machine.activated', key: 'machine', object: await get.machine(machine.id) });

    // Dead at 10:10:04 and revived inside its resurrection window…
    server.clock.set('2026-04-01T10:15:00.000Z');
    await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(created.key),
      params: { path: { id: machine.id } },
    });
    expected.push({
      type: 'machine.heartbeat.resurrected',
      key: 'machine',
      object: await get.machine(machine.id),
      extra: { deadSince: '2026-04-01T10:10:04.000Z' },
    });
    // …then dead past it: the worker records the death (KEEP_DEAD keeps it active).
    server.clock.set('2026-04-01T10:40:00.000Z');
    await worker('2026-04-01T10:40:00.000Z');
    expected.push({
      type: 'machine.heartbeat.dead',
      key: 'machine',
      object: await get.machine(machine.id),
      extra: { diedAt: '2026-04-01T10:25:00.000Z' },
    });

    server.clock.advance(1000);
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: created.id } },
    });
    expected.push({ type: 'license.suspended', key: 'license', object: await get.license(created.id) });
    server.clock.advance(1000);
    // Suspending twice changes nothing, and so tells nobody anything.
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: created.id } },
    });
    await server.client.POST('/licenses/{id}/actions/reinstate', {
      headers: admin,
      params: { path: { id: created.id } },
    });
    expected.push({ type: 'license.reinstated', key: 'license', object: await get.license(created.id) });

    server.clock.advance(1000);
    await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(created.key),
      params: { path: { id: machine.id } },
    });
    expected.push({
      type: 'machine.deactivated',
      key: 'machine',
      object: await get.machine(machine.id),
      extra: { reason: 'MANUAL' },
    });
    server.clock.advance(1000);
    const second = (await server.client.POST('/machines', { headers: licenseAuth(created.key), body: machineBody() }))
      .data!.data;
    expected.push({ type: 'machine.activated', key: 'machine', object: await get.machine(second.id) });
    server.clock.advance(1000);
    const beforeDelete = await get.license(created.id);
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: created.id } } });
    expected.push({
      type: 'machine.deactivated',
      key: 'machine',
      object: await get.machine(second.id),
      extra: { reason: 'LICENSE_DELETED' },
    });
    expected.push({
      type: 'license.deleted',
      key: 'license',
      object: { ...beforeDelete, machineCount: 0, coreCount: 0, updatedAt: server.clock.now().toISOString() },
    });
    server.clock.advance(1000);
    const beforePolicyDelete = await get.policy(policy.id);
    await server.client.DELETE('/policies/{id}', { headers: admin, params: { path: { id: policy.id } } });
    expected.push({
      type: 'policy.deleted',
      key: 'policy',
      object: { ...beforePolicyDelete, updatedAt: server.clock.now().toISOString() },
    });

    server.clock.advance(1000);
    const key = (
      await server.client.POST('/api-keys', { headers: admin, body: { name: 'evt', scopes: ['events:read'] } })
    ).data!.data;
    expected.push({ type: 'api-key.created', key: 'apiKey', object: await get.apiKey(key.id) });
    server.clock.advance(1000);
    await server.client.DELETE('/api-keys/{id}', { headers: admin, params: { path: { id: key.id } } });
    expected.push({ type: 'api-key.revoked', key: 'apiKey', object: await get.apiKey(key.id) });

    // Only an admin key reads api-key.* events (see the next test).
    const events = await eventsAfter(start, {}, admin);
    expect(events.map((e) => e.type)).toEqual(expected.map((e) => e.type));
    events.forEach((event, i) => {
      const want = expected[i]!;
      expect(event.data, `${i} ${event.type}`).toEqual({ [want.key]: want.object, ...want.extra });
      const object = want.object as { id: string; licenseId?: string };
      if (want.key === 'machine') expect(event).toMatchObject({ machineId: object.id, licenseId: object.licenseId });
      else if (want.key === 'license') expect(event).toMatchObject({ machineId: null, licenseId: object.id });
      else expect(event).toMatchObject({ machineId: null, licenseId: null });
    });
  });

  it('api-key.* events, which name every key with its scopes and token hint, are for admin keys only', async () => {
    const start = await lastEventId();
    const created = (
      await server.client.POST('/api-keys', { headers: admin, body: { name: 'root 2', scopes: ['admin'] } })
    ).data!.data;
    await server.client.DELETE('/api-keys/{id}', { headers: admin, params: { path: { id: created.id } } });
    const policy = (await server.client.POST('/policies', { headers: admin, body: { name: 'after the keys' } })).data!
      .data;

    // events:read alone: neither in the feed, nor by type, nor by id, as GET /api-keys refuses it.
    expect((await eventsAfter(start)).map((e) => e.type)).toEqual(['policy.created']);
    expect(await eventsAfter(start, { type: 'api-key.created' })).toEqual([]);
    const [createdEvent, revokedEvent] = await eventsAfter(start, {}, admin);
    expect([createdEvent!.type, revokedEvent!.type]).toEqual(['api-key.created', 'api-key.revoked']);
    expect(createdEvent!.data).toMatchObject({ apiKey: { id: created.id, name: 'root 2', scopes: ['admin'] } });
    for (const event of [createdEvent!, revokedEvent!]) {
      const hidden = await server.client.GET('/events/{id}', { headers: reader, params: { path: { id: event.id } } });
      expect(hidden.response.status).toBe(404);
      expect(hidden.error).toMatchObject({ code: 'EVENT_NOT_FOUND' });
      const shown = await server.client.GET('/events/{id}', { headers: admin, params: { path: { id: event.id } } });
      expect(shown.data!.data).toEqual(event);
    }
    const lastId = (await eventsAfter(start, {}, admin)).at(-1)!;
    expect(lastId.data).toMatchObject({ policy: { id: policy.id } });
  });

  it('a refused change writes no event', async () => {
    const policy = (
      await server.client.POST('/policies', { headers: admin, body: { name: 'one seat', maxMachines: 1 } })
    ).data!.data;
    const license = (await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } })).data!
      .data;
    await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() });
    const before = await lastEventId();
    const refused = await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() });
    expect(refused.response.status).toBe(422);
    const revoke = await server.client.DELETE('/policies/{id}', {
      headers: admin,
      params: { path: { id: policy.id } },
    });
    expect(revoke.response.status).toBe(409);
    expect(await lastEventId()).toBe(before);
  });

  it('the worker announces each expiry once, and a moved expiry again when it passes', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const policy = (await server.client.POST('/policies', { headers: admin, body: { name: 'expiring' } })).data!.data;
    const license = (
      await server.client.POST('/licenses', {
        headers: admin,
        body: { policyId: policy.id, expiresAt: '2026-05-02T00:00:00.000Z' },
      })
    ).data!.data;
    const expired = () => eventsAfter(undefined, { licenseId: license.id, type: 'license.expired' });

    await worker('2026-05-01T23:59:59.999Z');
    expect(await expired()).toEqual([]);
    await worker('2026-05-02T00:00:00.000Z');
    await worker('2026-05-02T00:01:00.000Z');
    const [first, ...rest] = await expired();
    expect(rest).toEqual([]);
    expect(first).toMatchObject({
      occurredAt: '2026-05-02T00:00:00.000Z',
      data: { license: { id: license.id, status: 'EXPIRED', expiresAt: '2026-05-02T00:00:00.000Z' } },
    });

    server.clock.set('2026-05-03T00:00:00.000Z');
    await patched(server, admin, '/licenses/{id}', license.id, { expiresAt: '2026-06-01T00:00:00.000Z' });
    await worker('2026-05-20T00:00:00.000Z');
    expect(await expired()).toHaveLength(1);
    await worker('2026-06-01T00:00:00.000Z');
    expect((await expired()).map((e) => e.occurredAt)).toEqual([
      '2026-05-02T00:00:00.000Z',
      '2026-06-01T00:00:00.000Z',
    ]);
  });

  it('filters by type, license, machine and time; pages by cursor; reads one by id', async () => {
    server.clock.set('2026-07-01T00:00:00.000Z');
    const policy = (await server.client.POST('/policies', { headers: admin, body: { name: 'filters' } })).data!.data;
    const a = (await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } })).data!.data;
    const b = (await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } })).data!.data;
    server.clock.set('2026-07-02T00:00:00.000Z');
    const m1 = (await server.client.POST('/machines', { headers: licenseAuth(a.key), body: machineBody() })).data!.data;
    server.clock.set('2026-07-03T00:00:00.000Z');
    const m2 = (await server.client.POST('/machines', { headers: licenseAuth(a.key), body: machineBody() })).data!.data;
    await server.client.POST('/machines', { headers: licenseAuth(b.key), body: machineBody() });
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(a.key), params: { path: { id: m1.id } } });

    expect((await eventsAfter(undefined, { licenseId: a.id })).map((e) => [e.type, e.machineId])).toEqual([
      ['license.created', null],
      ['machine.activated', m1.id],
      ['machine.activated', m2.id],
      ['machine.deactivated', m1.id],
    ]);
    expect((await eventsAfter(undefined, { machineId: m1.id })).map((e) => e.type)).toEqual([
      'machine.activated',
      'machine.deactivated',
    ]);
    const window = await eventsAfter(undefined, {
      occurredFrom: '2026-07-02T00:00:00.000Z',
      occurredBefore: '2026-07-03T00:00:00.000Z',
    });
    expect(window.map((e) => [e.type, e.machineId])).toEqual([['machine.activated', m1.id]]);
    const activations = await eventsAfter(undefined, {
      type: 'machine.activated',
      occurredFrom: '2026-07-01T00:00:00.000Z',
    });
    expect(activations.map((e) => e.licenseId)).toEqual([a.id, a.id, b.id]);

    const ids = (await eventsAfter(undefined)).map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    expect(new Set(ids).size).toBe(ids.length);

    const one = window[0]!;
    const got = await server.client.GET('/events/{id}', { headers: reader, params: { path: { id: one.id } } });
    expect(got.data!.data).toEqual(one);
    const missing = await server.client.GET('/events/{id}', {
      headers: reader,
      params: { path: { id: '999999999999999999' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'EVENT_NOT_FOUND' });
    const malformed = await server.client.GET('/events/{id}', { headers: reader, params: { path: { id: '0x10' } } });
    expect(malformed.response.status).toBe(400);
  });

  it('pages by the cursor clients hold, the last id as a decimal string, in bigint order ("10" after "9")', async () => {
    const ids = (await server.sql<{ id: string }>('select id::text as id from events order by events.id')).map(
      (r) => r.id,
    );
    // Ids start at 1 in this file's database, and the earlier tests wrote events past 10: the
    // log holds an id of one digit followed by one of two, which sort the other way as text.
    const at = ids.findIndex((id, i) => id.length === 1 && ids[i + 1]?.length === 2);
    expect(at).toBeGreaterThanOrEqual(0);
    const pageAfter = async (cursor: string) =>
      (await server.client.GET('/events', { headers: admin, params: { query: { cursor, limit: 1 } } })).data!;
    expect(await pageAfter(ids[at]!)).toEqual({
      data: [expect.objectContaining({ id: ids[at + 1] })],
      pagination: { nextCursor: ids[at + 1], hasMore: true },
    });
    expect((await pageAfter('99')).data.map((e) => e.id)).toEqual(ids.filter((id) => BigInt(id) > 99n).slice(0, 1));
    expect(await pageAfter('999999999999999999')).toEqual({
      data: [],
      pagination: { nextCursor: null, hasMore: false },
    });
    for (const cursor of ['0', '09', '-1', '1.5', '1e3', '9999999999999999999']) {
      const response = await fetch(`${server.apiUrl}/events?cursor=${cursor}`, { headers: admin });
      expect(response.status, cursor).toBe(400);
      const problem = (await response.json()) as Problem;
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(new Set(problem.errors!.map((e) => e.pointer))).toEqual(new Set(['/query/cursor']));
    }
  });

  it('refuses an id filter that is a UUID only in its urn: form (PostgreSQL cannot read it) with 400, not 500', async () => {
    const licenseId =
      (await server.sql<{ id: string }>('select id from licenses limit 1'))[0]?.id ??
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    for (const name of ['licenseId', 'machineId']) {
      const response = await fetch(`${server.apiUrl}/events?${name}=urn:uuid:${licenseId}`, { headers: reader });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ pointer: `/query/${name}` }],
      });
    }
  });

  it('is readable with events:read or admin, and with nothing else', async () => {
    expect((await server.client.GET('/events', { headers: admin })).response.status).toBe(200);
    const other = bearer(
      await seedApiKey(server, ['machines:read', 'licenses:read', 'policies:read', 'webhooks:write']),
    );
    const refused = await server.client.GET('/events', { headers: other });
    expect(refused.response.status).toBe(403);
    expect(refused.error).toMatchObject({ code: 'INSUFFICIENT_SCOPE' });
  });
});
