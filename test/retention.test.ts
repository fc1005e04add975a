import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { ManualClock } from '../src/core/clock.ts';
import { DEFAULT_RETENTION, type Retention, trimHistory } from '../src/db/retention.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { createWebhookEngine, type WebhookEngine } from '../src/webhooks/engine.ts';
import { workerPass } from '../src/worker.ts';
import { useApiKey, useTestServer } from './support/harness.ts';
import { Receiver } from './support/receiver.ts';

const server = useTestServer({ webhookAddresses: { allowPrivate: true } });
const silent = createLogger('silent');
const receiver = new Receiver();
const admin = useApiKey(server, ['admin']);
const hooks = useApiKey(server, ['webhooks:write', 'events:read']);
const engines: WebhookEngine[] = [];

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

function engine(jobRetentionMs?: number | null): WebhookEngine {
  const made = createWebhookEngine({
    databaseUrl: server.databaseUrl,
    orm: server.orm,
    clock: server.clock,
    log: silent,
    secrets: server.secrets,
    policy: { allowPrivate: true },
    timeoutMs: 500,
    failureThreshold: 100,
    random: () => 0.5,
    jobRetentionMs,
  });
  engines.push(made);
  return made;
}

let deliveries: WebhookEngine;

beforeAll(async () => {
  await receiver.start();
  deliveries = engine(DEFAULT_RETENTION.jobsMs);
});

afterAll(async () => {
  for (const e of engines) await e.stop();
  await receiver.stop();
});

/** A worker pass at `now`, with `retention`. */
// pg-boss starts a job at its due time by the database's clock, and the deliveries' due times are
// the test clock's: every time a delivery is due at is in the past.
const pass = (now: number, retention: Retention = DEFAULT_RETENTION) =>
  workerPass(server.orm, new ManualClock(new Date(now)), silent, retention);

let seq = 0;

/** Records one event (policy.created) at `at` through the API; returns its id. */
async function eventAt(at: number): Promise<string> {
  server.clock.set(new Date(at));
  const { response } = await server.client.POST('/policies', { headers: admin, body: { name: `r${++seq}` } });
  expect(response.status).toBe(201);
  const [row] = await server.sql<{ id: string }>('select max(id)::text as id from events');
  return row!.id;
}

async function eventExists(id: string): Promise<boolean> {
  const { response } = await server.client.GET('/events/{id}', { headers: hooks, params: { path: { id } } });
  expect([200, 404]).toContain(response.status);
  return response.status === 200;
}

async function endpoint() {
  const path = `/hook/${++seq}`;
  const { data, response } = await server.client.POST('/webhook-endpoints', {
    headers: hooks,
    body: { url: `${receiver.url}${path}` },
  });
  expect(response.status).toBe(201);
  receiver.secrets.set(path, [data!.data.secret]);
  return { id: data!.data.id, path };
}

async function deliveriesOf(id: string) {
  const { data } = await server.client.GET('/webhook-endpoints/{id}/deliveries', {
    headers: hooks,
    params: { path: { id }, query: { limit: 100 } },
  });
  return data!.data;
}

async function disableEndpoints() {
  await server.sql(`update webhook_endpoints set enabled = false, disabled_reason = 'MANUAL' where enabled`);
}

describe('retention settings', () => {
  it('default to 90 days of events and 30 days of deliveries and jobs', () => {
    expect(loadConfig({}).retention).toEqual({ eventsMs: 90 * DAY, deliveriesMs: 30 * DAY, jobsMs: 30 * DAY });
  });

  it('take days, hours, or off', () => {
    const { retention } = loadConfig({
      LICENTRIC_RETENTION_EVENTS: '365d',
      LICENTRIC_RETENTION_DELIVERIES: '36h',
      LICENTRIC_RETENTION_JOBS: 'OFF',
    });
    expect(retention).toEqual({ eventsMs: 365 * DAY, deliveriesMs: 36 * HOUR, jobsMs: null });
  });

  it.each([
    ['LICENTRIC_RETENTION_EVENTS', '90'],
    ['LICENTRIC_RETENTION_EVENTS', '0d'],
    ['LICENTRIC_RETENTION_DELIVERIES', '30m'],
    ['LICENTRIC_RETENTION_DELIVERIES', '-1d'],
    ['LICENTRIC_RETENTION_JOBS', '3651d'],
    ['LICENTRIC_RETENTION_JOBS', 'forever'],
  ])('refuse %s=%s with a message naming the variable and the format', (name, value) => {
    const start = () => loadConfig({ [name]: value });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(
      `${name} must be a number of days or hours from 1h to 3650d (e.g. 90d, 36h), or off, got "${value}"`,
    );
  });
});

describe('trimming events', () => {
  it('deletes the events older than the retention, to the millisecond, and keeps the rest', async () => {
    const t0 = Date.parse('2025-01-01T00:00:00.000Z');
    const older = await eventAt(t0);
    const boundary = await eventAt(t0 + 1);
    const newer = await eventAt(t0 + 2);
    await deliveries.runDue(); // relayed (to no endpoint)

    // Now minus 90 days is exactly `boundary`'s time: only what came before it goes.
    const first = await pass(t0 + 1 + 90 * DAY);
    expect(first.trimmed!.events).toBeGreaterThanOrEqual(1);
    expect([await eventExists(older), await eventExists(boundary), await eventExists(newer)]).toEqual([
      false,
      true,
      true,
    ]);
    await pass(t0 + 2 + 90 * DAY);
    expect([await eventExists(boundary), await eventExists(newer)]).toEqual([false, true]);
  });

  it('keeps everything a retention of off keeps', async () => {
    const t0 = Date.parse('2025-02-01T00:00:00.000Z');
    const id = await eventAt(t0);
    await deliveries.runDue();
    const result = await pass(t0 + 3650 * DAY, { eventsMs: null, deliveriesMs: null, jobsMs: null });
    expect(result.trimmed).toMatchObject({ events: 0, deliveries: 0, batches: 0 });
    expect(await eventExists(id)).toBe(true);
  });

  it('keeps an old event the webhook relay has not fanned out yet, and trims it once relayed', async () => {
    await disableEndpoints();
    const hook = await endpoint();
    const t0 = Date.parse('2025-03-01T00:00:00.000Z');
    const id = await eventAt(t0);
    await pass(t0 + 100 * DAY);
    expect(await eventExists(id)).toBe(true);

    // The relay runs late (the webhook worker was down): the event is still delivered.
    server.clock.set(new Date(t0 + 100 * DAY));
    await deliveries.runDue();
    const [delivered] = receiver.at(hook.path);
    expect(delivered!.payload.type).toBe('policy.created');
    expect(delivered!.payload.timestamp).toBe(new Date(t0).toISOString());

    // Its delivery keeps it 30 days more; then both go.
    await pass(t0 + 130 * DAY);
    expect(await eventExists(id)).toBe(true);
    await pass(t0 + 130 * DAY + 1);
    expect(await eventExists(id)).toBe(false);
    expect(await deliveriesOf(hook.id)).toEqual([]);
  });
});

describe('trimming webhook deliveries', () => {
  it('deletes a delivery 30 days after its last attempt, and keeps its event while it stays', async () => {
    await disableEndpoints();
    receiver.mode = 'ok';
    const hook = await endpoint();
    const t0 = Date.parse('2025-04-01T00:00:00.000Z');
    const id = await eventAt(t0);
    await deliveries.runDue();
    expect(await deliveriesOf(hook.id)).toHaveLength(1);

    const shortEvents = { ...DEFAULT_RETENTION, eventsMs: HOUR };
    await pass(t0 + 30 * DAY, shortEvents);
    expect(await deliveriesOf(hook.id)).toHaveLength(1);
    expect(await eventExists(id)).toBe(true);

    const result = await pass(t0 + 30 * DAY + 1, shortEvents);
    expect(result.trimmed).toMatchObject({ deliveries: 1, attempts: 1 });
    expect(await deliveriesOf(hook.id)).toEqual([]);
    expect(await eventExists(id)).toBe(false);
  });

  it('keeps a delivery whose retry is still to come, long past the retention, and sends it', async () => {
    await disableEndpoints();
    receiver.mode = 'fail';
    const hook = await endpoint();
    const t0 = Date.parse('2025-06-01T00:00:00.000Z');
    const id = await eventAt(t0);
    await deliveries.runDue();
    const [failed] = await deliveriesOf(hook.id);
    expect(failed).toMatchObject({ attempt: 1, succeeded: false, nextAttemptAt: new Date(t0 + 5000).toISOString() });

    // The webhook worker was down for a season; the retry is still queued, so nothing goes.
    const later = t0 + 120 * DAY;
    const kept = await pass(later);
    expect(await deliveriesOf(hook.id)).toHaveLength(1);
    expect(await eventExists(id)).toBe(true);
    expect(kept.trimmed!.complete).toBe(true);

    receiver.mode = 'ok';
    server.clock.set(new Date(later));
    expect(await deliveries.runDue()).toBe(1);
    expect(receiver.at(hook.path).map((r) => r.payload.type)).toEqual(['policy.created', 'policy.created']);
    expect((await deliveriesOf(hook.id)).map((d) => d.succeeded).sort()).toEqual([false, true]);

    // Both attempts stay while the last one is within the retention.
    await pass(later + 30 * DAY);
    expect(await deliveriesOf(hook.id)).toHaveLength(2);
    await pass(later + 30 * DAY + 1);
    expect(await deliveriesOf(hook.id)).toEqual([]);
  });

  it('keeps an old delivery queued for redelivery until it is sent again', async () => {
    await disableEndpoints();
    receiver.mode = 'ok';
    const hook = await endpoint();
    const t0 = Date.parse('2025-08-01T00:00:00.000Z');
    await eventAt(t0);
    await deliveries.runDue();
    const [first] = await deliveriesOf(hook.id);

    server.clock.set(new Date(t0 + 29 * DAY));
    const { response } = await server.client.POST('/webhook-endpoints/{id}/deliveries/{deliveryId}/actions/redeliver', {
      headers: hooks,
      params: { path: { id: hook.id, deliveryId: first!.id } },
    });
    expect(response.status).toBe(202);
    await pass(t0 + 60 * DAY);
    expect(await deliveriesOf(hook.id)).toHaveLength(1);

    server.clock.set(new Date(t0 + 60 * DAY));
    expect(await deliveries.runDue()).toBe(1);
    expect(receiver.at(hook.path)).toHaveLength(2);
    await pass(t0 + 90 * DAY + 1);
    expect(await deliveriesOf(hook.id)).toEqual([]);
  });

  it('keeps an old delivery whose redelivery is queued but not yet sent', async () => {
    await disableEndpoints();
    receiver.mode = 'ok';
    const hook = await endpoint();
    const t0 = Date.parse('2025-09-01T00:00:00.000Z');
    await eventAt(t0);
    await deliveries.runDue();
    const [first] = await deliveriesOf(hook.id);

    // Asked for past the retention, before any trim reached it; the relay queues the attempt,
    // which is not made yet (the engine's clock is a second early: the job waits for its time).
    const asked = t0 + 31 * DAY;
    server.clock.set(new Date(asked));
    const { response } = await server.client.POST('/webhook-endpoints/{id}/deliveries/{deliveryId}/actions/redeliver', {
      headers: hooks,
      params: { path: { id: hook.id, deliveryId: first!.id } },
    });
    expect(response.status).toBe(202);
    server.clock.set(new Date(asked - 1000));
    expect(await deliveries.runDue()).toBe(0);

    await pass(asked);
    expect(await deliveriesOf(hook.id)).toHaveLength(1);
    server.clock.set(new Date(asked));
    expect(await deliveries.runDue()).toBe(1);
    expect(receiver.at(hook.path)).toHaveLength(2);
  });

  it('deletes the old deliveries of a disabled endpoint, whose retries will never be sent', async () => {
    await disableEndpoints();
    receiver.mode = 'fail';
    const hook = await endpoint();
    const t0 = Date.parse('2025-10-01T00:00:00.000Z');
    await eventAt(t0);
    await deliveries.runDue();
    expect(await deliveriesOf(hook.id)).toHaveLength(1);
    await disableEndpoints();
    await pass(t0 + 30 * DAY + 1);
    expect(await deliveriesOf(hook.id)).toEqual([]);
  });
});

describe('the trim itself', () => {
  const t0 = Date.parse('2020-01-01T00:00:00.000Z');

  async function seedRelayedEvents(n: number, at: number) {
    await server.sql(
      `insert into events (type, occurred_at, data, relayed_at)
       select 'policy.created', $1, '{}', $1 from generate_series(1, $2::int)`,
      [new Date(at), n],
    );
  }

  const remaining = async (at: number) =>
    Number((await server.sql('select count(*) from events where occurred_at = $1', [new Date(at)]))[0]!.count);

  it('deletes in batches of at most the batch size, each its own statement', async () => {
    await seedRelayedEvents(25, t0);
    const result = await trimHistory(
      () => server.orm.em.fork(),
      new Date(t0 + 91 * DAY),
      { eventsMs: 90 * DAY, deliveriesMs: null, jobsMs: null },
      { batchSize: 10, budgetMs: 60_000 },
    );
    // The oldest events of all: the first three batches walk 10 + 10 + 5 of them, and then the
    // events the tests before left, which this trim may delete as well.
    expect(result.events).toBeGreaterThanOrEqual(25);
    expect(result.batches).toBe(Math.floor(result.events / 10) + 1);
    expect(result.complete).toBe(true);
    expect(await remaining(t0)).toBe(0);
  });

  it('stops when its time budget is spent, and the next trim goes on', async () => {
    // Before every other event left, so the first batches walk these alone.
    const at = t0 + DAY;
    await seedRelayedEvents(25, at);
    // The budget's clock moves one unit per reading: a budget of 3 allows two batches.
    let units = 0;
    const retention = { eventsMs: 90 * DAY, deliveriesMs: null, jobsMs: null };
    const options = { batchSize: 10, budgetMs: 3, elapsed: () => units++ };
    const first = await trimHistory(() => server.orm.em.fork(), new Date(at + 91 * DAY), retention, options);
    expect(first).toMatchObject({ events: 20, batches: 2, complete: false });
    expect(await remaining(at)).toBe(5);

    units = 0;
    const second = await trimHistory(() => server.orm.em.fork(), new Date(at + 91 * DAY), retention, options);
    expect(second).toMatchObject({ events: 5, batches: 1, complete: true });
    expect(await remaining(at)).toBe(0);
  });

  it('starts no further batch once the process begins to stop', async () => {
    const at = t0 + 3 * DAY;
    await seedRelayedEvents(25, at);
    const retention = { eventsMs: 90 * DAY, deliveriesMs: null, jobsMs: null };
    const stopping = new AbortController();
    // The budget's clock is read once at the start and once before each batch: the stop comes
    // while the first batch has run.
    let readings = 0;
    const elapsed = () => {
      if (++readings === 3) stopping.abort();
      return 0;
    };
    const result = await trimHistory(() => server.orm.em.fork(), new Date(at + 91 * DAY), retention, {
      batchSize: 10,
      budgetMs: 60_000,
      elapsed,
      signal: stopping.signal,
    });
    expect(result).toMatchObject({ events: 10, batches: 1, complete: false });
    expect(await remaining(at)).toBe(15);
    await trimHistory(() => server.orm.em.fork(), new Date(at + 91 * DAY), retention);
    expect(await remaining(at)).toBe(0);
  });

  it('needs nothing of the machines and licenses tables: it runs while another transaction locks them', async () => {
    const at = t0 + 2 * DAY;
    await seedRelayedEvents(5, at);
    const locker = new pg.Client({ connectionString: server.databaseUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table machines, licenses in access exclusive mode');
      const result = await trimHistory(
        () => server.orm.em.fork(),
        new Date(at + 91 * DAY),
        { eventsMs: 90 * DAY, deliveriesMs: 30 * DAY, jobsMs: null },
        { batchSize: 100, budgetMs: 60_000 },
      );
      expect(result.events).toBeGreaterThanOrEqual(5);
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    expect(await remaining(at)).toBe(0);
  });

  it('walks the time indexes', async () => {
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    const plan = async (statement: string) =>
      (await client.query<{ 'QUERY PLAN': string }>(`explain ${statement}`)).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    // A planner with few rows prefers reading the table; the question is whether the index serves the walk.
    await client.query('set enable_seqscan = off');
    try {
      expect(
        await plan(
          `select id from events where occurred_at < now() and (occurred_at, id) > (now() - interval '1 year', 0) order by occurred_at, id limit 1000`,
        ),
      ).toContain('events_occurred_at_id_index');
      expect(
        await plan(
          `select id from webhook_messages where created_at < now() and (created_at, id) > (now() - interval '1 year', gen_random_uuid()) order by created_at, id limit 1000`,
        ),
      ).toContain('webhook_messages_created_at_id_index');
      expect(await plan('select 1 from webhook_messages where event_id = 1')).toContain(
        'webhook_messages_event_id_index',
      );
    } finally {
      await client.end();
    }
  });

  it('reports what it trimmed to the metrics', async () => {
    const metrics = new Metrics();
    metrics.observePass({
      deactivated: 0,
      markedDead: 0,
      ms: 1,
      trimmed: { events: 7, deliveries: 2, attempts: 3, batches: 2, complete: true },
    } as Parameters<Metrics['observePass']>[0]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('licentric_retention_trimmed_rows_total{table="events"} 7');
    expect(text).toContain('licentric_retention_trimmed_rows_total{table="webhook_messages"} 2');
    expect(text).toContain('licentric_retention_trimmed_rows_total{table="webhook_attempts"} 3');
  });
});

describe("pg-boss's finished jobs", () => {
  it('are kept for LICENTRIC_RETENTION_JOBS by pg-boss itself, relay jobs an hour', async () => {
    const queues = async () =>
      Object.fromEntries(
        (
          await server.sql<{ name: string; deletion_seconds: number }>(
            `select name, deletion_seconds from pgboss.queue where name like 'webhooks-%'`,
          )
        ).map((q) => [q.name, q.deletion_seconds]),
      );
    // The engine of this file started with the default.
    expect(await queues()).toEqual({ 'webhooks-deliver': 30 * 24 * 3600, 'webhooks-relay': 3600 });

    const keepAll = engine(null);
    await keepAll.runDue();
    expect(await queues()).toEqual({ 'webhooks-deliver': 0, 'webhooks-relay': 3600 });
    const twoHours = engine(2 * HOUR);
    await twoHours.runDue();
    expect(await queues()).toEqual({ 'webhooks-deliver': 7200, 'webhooks-relay': 3600 });
  });

  it("are deleted by pg-boss's maintenance once past it", async () => {
    const mine = engine(30 * DAY);
    await mine.runDue();
    const boss = new PgBoss({ connectionString: server.databaseUrl, supervise: false, schedule: false });
    await boss.start();
    try {
      const [old, recent] = await Promise.all([
        boss.send('webhooks-deliver', { retention: 'old' }, { startAfter: 3600 }),
        boss.send('webhooks-deliver', { retention: 'recent' }, { startAfter: 3600 }),
      ]);
      // Finished a month ago, and a minute more, or 29 days ago: the state a worker leaves them in.
      await server.sql(
        `update pgboss.job set state = 'completed',
                completed_on = now() - case when id = $1 then interval '30 days 1 minute' else interval '29 days' end
          where id = any($2::uuid[])`,
        [old, [old, recent]],
      );
      // pg-boss's retention sweep runs once a day per queue; as if that day had passed.
      await server.sql(`update pgboss.queue set maintain_on = null where name = 'webhooks-deliver'`);
      await boss.supervise('webhooks-deliver');
      const left = await server.sql<{ id: string }>('select id from pgboss.job where id = any($1::uuid[])', [
        [old, recent],
      ]);
      expect(left.map((r) => r.id)).toEqual([recent]);
    } finally {
      await boss.stop({ graceful: false, close: true });
    }
  });
});
