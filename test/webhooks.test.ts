import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { createLogger } from '../src/log.ts';
import type { Resolver } from '../src/webhooks/address.ts';
import { createWebhookEngine, type WebhookEngine } from '../src/webhooks/engine.ts';
import { RETRY_DELAYS_SECONDS, retryDelayMs } from '../src/webhooks/schedule.ts';
import { licenseAuth, machineBody, patch, patched, TEST_SECRET, useApiKey, useTestServer } from './support/harness.ts';
import { Receiver } from './support/receiver.ts';

type Delivery = components['schemas']['WebhookDelivery'];

const server = useTestServer({ webhookAddresses: { allowPrivate: true } });
const silent = createLogger('silent');
const receiver = new Receiver();
const engines: WebhookEngine[] = [];
const admin = useApiKey(server, ['admin']);
const hooks = useApiKey(server, ['webhooks:write', 'events:read']);

/** A delivery engine on this file's database, on the test clock, with the tests' short limits. */
function engine(
  options: { failureThreshold?: number; allowPrivate?: boolean; resolve?: Resolver } = {},
): WebhookEngine {
  const made = createWebhookEngine({
    databaseUrl: server.databaseUrl,
    orm: server.orm,
    clock: server.clock,
    log: silent,
    policy: { allowPrivate: options.allowPrivate ?? true, resolve: options.resolve },
    secrets: TEST_SECRET,
    timeoutMs: 500,
    failureThreshold: options.failureThreshold ?? 100,
    // No jitter, so the schedule can be read exactly; schedule.ts's own test covers the jitter.
    random: () => 0.5,
  });
  engines.push(made);
  return made;
}

let deliveries: WebhookEngine;

beforeAll(async () => {
  await receiver.start();
  deliveries = engine();
  // Everything before this file's endpoints exist is relayed to nobody.
  await deliveries.runDue();
});

// Each test counts the attempts to its own endpoints: the ones before it stop receiving.
afterEach(async () => {
  await server.sql(`update webhook_endpoints set enabled = false, disabled_reason = 'MANUAL' where enabled`);
});

afterAll(async () => {
  for (const e of engines) await e.stop();
  await receiver.stop();
});

let seq = 0;

/** An endpoint on the receiver at a path of its own; the receiver holds its secret. */
async function endpoint(body: Partial<components['schemas']['CreateWebhookEndpointRequest']> = {}) {
  const path = `/hook/${++seq}`;
  const { data, response } = await server.client.POST('/webhook-endpoints', {
    headers: hooks,
    body: { url: `${receiver.url}${path}`, ...body },
  });
  expect(response.status).toBe(201);
  receiver.secrets.set(path, [data!.data.secret]);
  return { ...data!.data, path };
}

async function deliveriesOf(id: string): Promise<Delivery[]> {
  const { data } = await server.client.GET('/webhook-endpoints/{id}/deliveries', {
    headers: hooks,
    params: { path: { id }, query: { limit: 100 } },
  });
  return data!.data;
}

async function changeSomething(): Promise<string> {
  const { data } = await server.client.POST('/policies', { headers: admin, body: { name: `p${++seq}` } });
  return data!.data.id;
}

describe('webhooks', () => {
  it('delivers process.spawned and process.released to an endpoint that asks for them', async () => {
    receiver.mode = 'ok';
    const hook = await endpoint({ eventTypes: ['process.spawned', 'process.released'] });
    const policyId = await changeSomething();
    const license = (await server.client.POST('/licenses', { headers: admin, body: { policyId } })).data!.data;
    const machine = (await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() }))
      .data!.data;
    const spawned = await server.client.POST('/machines/{id}/processes', {
      headers: licenseAuth(license.key),
      params: { path: { id: machine.id } },
      body: { pid: 'render-7' },
    });
    expect(spawned.response.status).toBe(201);
    const released = await server.client.DELETE('/processes/{id}', {
      headers: licenseAuth(license.key),
      params: { path: { id: spawned.data!.data.id } },
    });
    expect(released.response.status).toBe(200);
    await deliveries.runDue();
    const got = receiver.at(hook.path).map((r) => r.payload);
    expect(got.map((p) => p.type).sort()).toEqual(['process.released', 'process.spawned']);
    expect(got.every((p) => (p.data.process as { id: string }).id === spawned.data!.data.id)).toBe(true);
  });

  it('delivers every event, signed as Standard Webhooks says, with the body the events API shows', async () => {
    receiver.mode = 'ok';
    const hook = await endpoint({ description: 'everything' });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const after = (await server.sql<{ id: string }>('select max(id)::text as id from events'))[0]!.id;

    const policyId = await changeSomething();
    const license = (await server.client.POST('/licenses', { headers: admin, body: { policyId } })).data!.data;
    await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() });
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: license.id } },
    });
    expect(receiver.at(hook.path)).toEqual([]);
    expect(await deliveries.runDue()).toBe(4);

    const events = (await server.client.GET('/events', { headers: hooks, params: { query: { cursor: after } } })).data!
      .data;
    expect(events.map((e) => e.type)).toEqual([
      'policy.created',
      'license.created',
      'machine.activated',
      'license.suspended',
    ]);
    // Standard Webhooks promises no order between messages; each event arrives, as the API shows it.
    const got = receiver.at(hook.path);
    const byBody = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    expect(got.map((r) => r.payload).sort(byBody)).toEqual(
      events.map((e) => ({ type: e.type, timestamp: e.occurredAt, actor: e.actor, data: e.data })).sort(byBody),
    );
    expect(new Set(got.map((r) => r.webhookId)).size).toBe(4);
    for (const r of got) {
      expect(r.webhookId).toMatch(/^msg_[0-9a-f-]{36}$/);
      expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect(receiver.refused).toEqual([]);

    const attempts = (await deliveriesOf(hook.id)).sort((a, b) => Number(a.eventId) - Number(b.eventId));
    expect(
      attempts.map((a) => [
        a.eventId,
        a.type,
        a.attempt,
        a.succeeded,
        a.statusCode,
        a.error,
        a.responseExcerpt,
        a.nextAttemptAt,
      ]),
    ).toEqual(events.map((e) => [e.id, e.type, 1, true, 200, null, 'ok, thanks', null]));
    // Each attempt names the message the receiver got for its event.
    for (const a of attempts) expect(got.find((r) => r.webhookId === a.webhookId)!.payload.type).toBe(a.type);
    // Nothing is sent twice.
    expect(await deliveries.runDue()).toBe(0);
  });

  it('sends an endpoint only the event types it asked for', async () => {
    receiver.mode = 'ok';
    const hook = await endpoint({ eventTypes: ['license.created'] });
    const policyId = await changeSomething();
    await server.client.POST('/licenses', { headers: admin, body: { policyId } });
    await deliveries.runDue();
    expect(receiver.at(hook.path).map((r) => r.payload.type)).toEqual(['license.created']);
  });

  it('retries failures on the schedule, by the injected clock, with the same webhook-id, until the receiver recovers', async () => {
    receiver.mode = 'fail';
    server.clock.set('2026-06-01T00:00:00.000Z');
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    await changeSomething();
    expect(await deliveries.runDue()).toBe(1);

    const start = Date.parse('2026-06-01T00:00:00.000Z');
    let elapsed = 0;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [last] = (await deliveriesOf(hook.id)).slice(-1);
      expect(last).toMatchObject({ attempt, succeeded: false, statusCode: 500, responseExcerpt: 'receiver is down' });
      const delay = RETRY_DELAYS_SECONDS[attempt - 1]! * 1000;
      expect(Date.parse(last!.nextAttemptAt!) - Date.parse(last!.attemptedAt)).toBe(delay);
      // A millisecond early: nothing is sent.
      server.clock.set(new Date(start + elapsed + delay - 1));
      expect(await deliveries.runDue()).toBe(0);
      elapsed += delay;
      server.clock.set(new Date(start + elapsed));
      if (attempt === 3) receiver.mode = 'ok';
      expect(await deliveries.runDue()).toBe(1);
    }
    const attempts = await deliveriesOf(hook.id);
    expect(attempts.map((a) => [a.attempt, a.succeeded, a.attemptedAt])).toEqual([
      [1, false, '2026-06-01T00:00:00.000Z'],
      [2, false, '2026-06-01T00:00:05.000Z'],
      [3, false, '2026-06-01T00:05:05.000Z'],
      [4, true, '2026-06-01T00:35:05.000Z'],
    ]);
    const got = receiver.at(hook.path);
    expect(new Set(got.map((r) => r.webhookId))).toEqual(new Set([attempts[0]!.webhookId]));
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(got).toHaveLength(4);
    expect(
      (await server.client.GET('/webhook-endpoints/{id}', { headers: hooks, params: { path: { id: hook.id } } })).data!
        .data.consecutiveFailures,
    ).toBe(0);
  });

  it('gives a message up after the eighth attempt, about a day later', async () => {
    receiver.mode = 'fail';
    server.clock.set('2026-07-01T00:00:00.000Z');
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    await changeSomething();
    await deliveries.runDue();
    for (const seconds of RETRY_DELAYS_SECONDS) {
      server.clock.advance(seconds * 1000);
      expect(await deliveries.runDue()).toBe(1);
    }
    server.clock.advance(30 * 24 * 3600 * 1000);
    expect(await deliveries.runDue()).toBe(0);
    const attempts = await deliveriesOf(hook.id);
    expect(attempts).toHaveLength(8);
    expect(attempts.at(-1)).toMatchObject({ attempt: 8, nextAttemptAt: null });
    const total = Date.parse(attempts.at(-1)!.attemptedAt) - Date.parse(attempts[0]!.attemptedAt);
    expect(total / 3600_000).toBeCloseTo(27 + 35 / 60 + 5 / 3600, 5);
  });

  it('counts a timeout, a refused connection and a redirect (not followed) as failures', async () => {
    server.clock.set('2026-08-01T00:00:00.000Z');
    receiver.mode = 'hang';
    const slow = await endpoint({ eventTypes: ['policy.created'] });
    await changeSomething();
    await deliveries.runDue();
    expect((await deliveriesOf(slow.id))[0]).toMatchObject({
      succeeded: false,
      statusCode: null,
      error: 'timed out after 0.5 s',
    });
    await disable(slow.id);

    receiver.mode = 'redirect';
    const moved = await endpoint({ eventTypes: ['policy.created'] });
    await changeSomething();
    await deliveries.runDue();
    expect((await deliveriesOf(moved.id))[0]).toMatchObject({ succeeded: false, statusCode: 302, error: null });
    expect(receiver.at(moved.path)).toHaveLength(1);
    await disable(moved.id);

    const closed = (
      await server.client.POST('/webhook-endpoints', {
        headers: hooks,
        body: { url: 'http://127.0.0.1:1/nobody', eventTypes: ['policy.created'] },
      })
    ).data!.data;
    await changeSomething();
    await deliveries.runDue();
    expect((await deliveriesOf(closed.id))[0]).toMatchObject({
      succeeded: false,
      statusCode: null,
      error: expect.stringContaining('ECONNREFUSED'),
    });
    await disable(closed.id);
  });

  it('disables an endpoint after enough consecutive failures, says so in an event, and sends it nothing more', async () => {
    receiver.mode = 'fail';
    const strict = engine({ failureThreshold: 3 });
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    for (let i = 0; i < 3; i++) await changeSomething();
    expect(await strict.runDue()).toBe(3);
    const disabled = (
      await server.client.GET('/webhook-endpoints/{id}', { headers: hooks, params: { path: { id: hook.id } } })
    ).data!.data;
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'FAILING', consecutiveFailures: 3 });
    const [event] = (
      await server.client.GET('/events', { headers: hooks, params: { query: { type: 'webhook-endpoint.disabled' } } })
    ).data!.data.slice(-1);
    expect(event!.data).toEqual({ webhookEndpoint: disabled });

    receiver.mode = 'ok';
    await changeSomething();
    server.clock.advance(24 * 3600 * 1000);
    expect(await strict.runDue()).toBe(0);
    expect(receiver.at(hook.path)).toHaveLength(3);

    // Enabled again: what happens from then on arrives.
    await patched(server, hooks, '/webhook-endpoints/{id}', hook.id, { enabled: true });
    await changeSomething();
    expect(await strict.runDue()).toBe(1);
    expect(receiver.at(hook.path)).toHaveLength(4);
  });

  it('redelivers a message with the same webhook-id and body, and sends a test message on request', async () => {
    receiver.mode = 'ok';
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    await changeSomething();
    await deliveries.runDue();
    const [first] = await deliveriesOf(hook.id);
    const redelivered = await server.client.POST('/webhook-endpoints/{id}/deliveries/{deliveryId}/actions/redeliver', {
      headers: hooks,
      params: { path: { id: hook.id, deliveryId: first!.id } },
    });
    expect(redelivered.response.status).toBe(202);
    expect(redelivered.data!.data).toMatchObject({ webhookId: first!.webhookId, type: 'policy.created' });
    expect(await deliveries.runDue()).toBe(1);
    const [a, b] = receiver.at(hook.path);
    expect(b!.webhookId).toBe(a!.webhookId);
    expect(b!.body).toBe(a!.body);
    expect((await deliveriesOf(hook.id)).map((d) => [d.webhookId, d.attempt])).toEqual([
      [first!.webhookId, 1],
      [first!.webhookId, 2],
    ]);

    const test = await server.client.POST('/webhook-endpoints/{id}/actions/send-test', {
      headers: hooks,
      params: { path: { id: hook.id } },
    });
    expect(test.response.status).toBe(202);
    expect(await deliveries.runDue()).toBe(1);
    expect(receiver.at(hook.path).at(-1)).toMatchObject({
      webhookId: test.data!.data.webhookId,
      payload: { type: 'webhook-endpoint.test', data: { webhookEndpointId: hook.id } },
    });

    const missing = await server.client.POST('/webhook-endpoints/{id}/deliveries/{deliveryId}/actions/redeliver', {
      headers: hooks,
      params: { path: { id: hook.id, deliveryId: '01a21f9e-0a3b-7c55-8d2e-4f6a8b0c2d3e' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'WEBHOOK_DELIVERY_NOT_FOUND' });
  });

  it('rotates the secret: both secrets sign during the grace period, then only the new one', async () => {
    receiver.mode = 'ok';
    server.clock.set('2026-09-01T00:00:00.000Z');
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    const rotated = (
      await server.client.POST('/webhook-endpoints/{id}/actions/rotate-secret', {
        headers: hooks,
        params: { path: { id: hook.id } },
      })
    ).data!.data;
    expect(rotated.secret).not.toBe(hook.secret);
    expect(rotated.previousSecretExpiresAt).toBe('2026-09-02T00:00:00.000Z');
    // A receiver still on the old secret, and one already on the new: both verify.
    for (const secret of [hook.secret, rotated.secret]) {
      receiver.secrets.set(hook.path, [secret]);
      await changeSomething();
      await deliveries.runDue();
      expect(receiver.refused).toEqual([]);
    }
    server.clock.set('2026-09-02T00:00:00.000Z');
    receiver.secrets.set(hook.path, [hook.secret]);
    await changeSomething();
    await deliveries.runDue();
    expect(receiver.refused).toEqual([hook.path]);
    receiver.refused.length = 0;
  });

  it('refuses, at delivery, a name that now resolves to a loopback address (DNS rebinding)', async () => {
    receiver.mode = 'ok';
    // The name resolved to a public address when the endpoint was saved; now it is the receiver's.
    const guarded = engine({ allowPrivate: false, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    const port = new URL(receiver.url).port;
    await server.sql(`update webhook_endpoints set url = $1 where id = $2`, [
      `https://rebound.example.com:${port}${hook.path}`,
      hook.id,
    ]);
    await changeSomething();
    expect(await guarded.runDue()).toBe(1);
    expect((await deliveriesOf(hook.id))[0]).toMatchObject({
      succeeded: false,
      statusCode: null,
      error:
        'refused: rebound.example.com resolves to an address that is a private, loopback, link-local or reserved address (127.0.0.1)',
    });
    expect(receiver.at(hook.path)).toEqual([]);
    await disable(hook.id);
  });

  it('several workers deliver each attempt once', async () => {
    receiver.mode = 'ok';
    const hook = await endpoint({ eventTypes: ['policy.created'] });
    for (let i = 0; i < 30; i++) await changeSomething();
    const [a, b, c] = [engine(), engine(), deliveries];
    const made = await Promise.all([a.runDue(), b.runDue(), c.runDue()]);
    expect(made.reduce((x, y) => x + y, 0)).toBe(30);
    const ids = receiver.at(hook.path).map((r) => r.webhookId);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
  });

  it('manages endpoints: list, get, update by merge patch, delete; secrets are never shown again', async () => {
    const hook = await endpoint({ description: 'crm' });
    const listed = (
      await server.client.GET('/webhook-endpoints', { headers: hooks, params: { query: { limit: 100 } } })
    ).data!.data;
    expect(listed.find((e) => e.id === hook.id)).toEqual({
      id: hook.id,
      url: hook.url,
      description: 'crm',
      eventTypes: null,
      enabled: true,
      disabledReason: null,
      consecutiveFailures: 0,
      previousSecretExpiresAt: null,
      createdAt: hook.createdAt,
      updatedAt: hook.updatedAt,
    });
    expect(JSON.stringify(listed)).not.toContain(hook.secret);
    const updated = await patched(server, hooks, '/webhook-endpoints/{id}', hook.id, {
      eventTypes: ['machine.deactivated'],
      description: null,
      enabled: false,
    });
    expect(updated).toMatchObject({
      eventTypes: ['machine.deactivated'],
      description: null,
      enabled: false,
      disabledReason: 'MANUAL',
    });
    const bad = await patch(server, hooks, '/webhook-endpoints/{id}', hook.id, { eventTypes: ['machine.exploded'] });
    expect(bad.status).toBe(400);
    const deleted = await server.client.DELETE('/webhook-endpoints/{id}', {
      headers: hooks,
      params: { path: { id: hook.id } },
    });
    expect(deleted.data!.data).toEqual({ id: hook.id, deleted: true });
    const gone = await server.client.GET('/webhook-endpoints/{id}', {
      headers: hooks,
      params: { path: { id: hook.id } },
    });
    expect(gone.response.status).toBe(404);
    expect(gone.error).toMatchObject({ code: 'WEBHOOK_ENDPOINT_NOT_FOUND' });
  });
});

describe('the retry schedule', () => {
  it('moves each delay by at most 10 %, both ways', () => {
    for (const [attempt, base] of RETRY_DELAYS_SECONDS.entries()) {
      expect(retryDelayMs(attempt + 1, () => 0)).toBe(Math.round(base * 900));
      expect(retryDelayMs(attempt + 1, () => 1)).toBe(Math.round(base * 1100));
    }
    expect(retryDelayMs(RETRY_DELAYS_SECONDS.length + 1)).toBeNull();
  });
});

/** Takes an endpoint out of the way of the tests after it. */
async function disable(id: string): Promise<void> {
  await patched(server, hooks, '/webhook-endpoints/{id}', id, { enabled: false });
}
