import { PassThrough } from 'node:stream';
import { Cron } from 'croner';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { initOrm } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import { DEFAULT_WORKER_CRON, startWorkerSchedule } from '../src/worker.ts';
import {
  activated,
  licenseAuth,
  patched,
  read,
  seedPolicyAndLicense,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
const silent = createLogger('silent');
const admin = useApiKey(server, ['admin']);

/**
 * Each test lives a year after the previous one and starts with a pass that culls whatever the
 * tests before it left dead, so the counts a test sees are its own machines'.
 */
let epoch = new Date('2026-03-01T14:00:00.000Z').getTime();
const at = (seconds: number, ms = 0) => new Date(epoch + seconds * 1000 + ms);

/** A policy and a license, with `count` machines activated at the test's start. */
async function setup(policy: Partial<CreatePolicy>, count = 1) {
  epoch += 365 * 24 * 3600 * 1000;
  await cullPass(server.orm.em.fork(), new ManualClock(at(0)), silent);
  return addLicense(policy, count);
}

/** Another policy and license in the same test. */
async function addLicense(policy: Partial<CreatePolicy>, count = 1) {
  server.clock.set(at(0));
  const seeded = await seedPolicyAndLicense(server, admin, {
    name: 'cull',
    requireHeartbeat: true,
    heartbeatDuration: 600,
    ...policy,
  });
  return { ...seeded, ids: await activated(server, seeded.key, count) };
}

const pass = (now: Date, batchSize?: number) =>
  cullPass(server.orm.em.fork(), new ManualClock(now), silent, { batchSize });
const readMachine = (id: string) => read(server, admin, '/machines/{id}', id);
// The machine each event carries is held to the API's by events.test.ts; here, the facts beside it.
const eventsOf = (id: string) =>
  server.sql<{ type: string; data: unknown }>(
    `select type, data::jsonb - 'machine' as data from events where machine_id = $1 and type <> 'machine.activated' order by id`,
    [id],
  );

describe('a culling pass', () => {
  it('DEACTIVATE_DEAD: deactivates machines dead and past the window, with the reason and one event', async () => {
    const { ids, key } = await setup({ heartbeatCullStrategy: 'DEACTIVATE_DEAD' }, 3);
    server.clock.set(at(300));
    await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: ids[2]! } },
    });
    const result = await pass(at(600));
    expect(result).toMatchObject({ deactivated: 2, markedDead: 0 });
    server.clock.set(at(600));
    expect(await readMachine(ids[0]!)).toMatchObject({
      deletedAt: at(600).toISOString(),
      deactivationReason: 'HEARTBEAT_DEAD',
    });
    expect(await readMachine(ids[2]!)).toMatchObject({ deletedAt: null, heartbeatStatus: 'ALIVE' });
    expect(await eventsOf(ids[0]!)).toEqual([
      { type: 'machine.deactivated', data: { reason: 'HEARTBEAT_DEAD', diedAt: at(600).toISOString() } },
    ]);
    expect(await eventsOf(ids[2]!)).toEqual([]);
    // The limit counts only active machines, so culling frees seats.
    const license = await server.client.POST('/licenses/actions/validate', { headers: licenseAuth(key) });
    expect(license.data!.data.license.machineCount).toBe(1);
  });

  it('leaves alone what is not dead, not past its resurrection window, or not required to beat', async () => {
    const windowed = await setup({ heartbeatResurrectionWindow: 60 });
    const relaxed = await addLicense({ requireHeartbeat: false });
    expect(await pass(at(600 + 60, -1))).toMatchObject({ deactivated: 0 });
    expect(await pass(at(600 + 60))).toMatchObject({ deactivated: 1 });
    expect((await readMachine(windowed.ids[0]!)).deactivationReason).toBe('HEARTBEAT_DEAD');
    expect((await readMachine(relaxed.ids[0]!)).deletedAt).toBeNull();
  });

  it('KEEP_DEAD: keeps the machine active, records its death once, and writes one event', async () => {
    const { ids } = await setup({ heartbeatCullStrategy: 'KEEP_DEAD' });
    expect(await pass(at(600))).toMatchObject({ markedDead: 1, deactivated: 0 });
    expect(await pass(at(900))).toMatchObject({ markedDead: 0, deactivated: 0 });
    server.clock.set(at(900));
    expect(await readMachine(ids[0]!)).toMatchObject({
      deletedAt: null,
      heartbeatStatus: 'DEAD',
      deactivationReason: null,
    });
    expect(await eventsOf(ids[0]!)).toEqual([
      { type: 'machine.heartbeat.dead', data: { diedAt: at(600).toISOString() } },
    ]);
    const [row] = await server.sql<{ dead_at: Date }>('select dead_at from machines where id = $1', [ids[0]]);
    expect(row!.dead_at).toEqual(at(600));
  });

  it('a change of strategy applies to existing machines from then on', async () => {
    const { ids, policyId } = await setup({ heartbeatCullStrategy: 'KEEP_DEAD' });
    await pass(at(600));
    await patched(server, admin, '/policies/{id}', policyId, { heartbeatCullStrategy: 'DEACTIVATE_DEAD' });
    expect(await pass(at(700))).toMatchObject({ deactivated: 1 });
    expect((await eventsOf(ids[0]!)).map((e) => e.type)).toEqual(['machine.heartbeat.dead', 'machine.deactivated']);
  });

  // The pass drops, before it joins a machine's policy, every machine that beat within the
  // shortest duration and window of any policy (heartbeatSql.mayBePastResurrection); 60 s is the
  // least a policy may have, so the shortest is the short policy's own, exact to the millisecond.
  it("culls each policy's machines at their own deadline, not at the shortest policy's", async () => {
    const short = await setup({ heartbeatDuration: 60 });
    const long = await addLicense({ heartbeatDuration: 3600, heartbeatResurrectionWindow: 600 });
    const relaxed = await addLicense({ requireHeartbeat: false });
    expect(await pass(at(60, -1))).toMatchObject({ deactivated: 0 });
    expect(await pass(at(60))).toMatchObject({ deactivated: 1 });
    expect((await readMachine(short.ids[0]!)).deactivationReason).toBe('HEARTBEAT_DEAD');
    expect(await pass(at(4200, -1))).toMatchObject({ deactivated: 0 });
    expect(await pass(at(4200))).toMatchObject({ deactivated: 1 });
    expect((await readMachine(long.ids[0]!)).deactivationReason).toBe('HEARTBEAT_DEAD');
    expect(await pass(at(100 * 24 * 3600))).toMatchObject({ deactivated: 0 });
    expect((await readMachine(relaxed.ids[0]!)).deletedAt).toBeNull();
  });

  it('works through many machines in small batches', async () => {
    const { ids } = await setup({}, 23);
    const result = await pass(at(601), 5);
    expect(result.deactivated).toBe(23);
    expect(result.batches).toBe(5);
    const [row] = await server.sql<{ n: number }>(
      "select count(*)::int as n from machines where id = any($1) and deactivation_reason = 'HEARTBEAT_DEAD'",
      [ids],
    );
    expect(row!.n).toBe(23);
  });

  it('reads at most its scan window of machines a statement, however few are dead', async () => {
    const { ids } = await setup({}, 6);
    await addLicense({ requireHeartbeat: false }, 20);
    const [{ total }] = (await server.sql<{ total: number }>('select count(*)::int as total from machines')) as [
      { total: number },
    ];
    const result = await cullPass(server.orm.em.fork(), new ManualClock(at(601)), silent, {
      batchSize: 10,
      scanWindow: 10,
    });
    // Six dead fit one batch; read in windows of ten, the table takes a statement per window.
    expect(result.deactivated).toBe(6);
    expect(result.batches).toBeGreaterThanOrEqual(Math.ceil(total / 10));
    const [row] = await server.sql<{ n: number }>(
      "select count(*)::int as n from machines where id = any($1) and deactivation_reason = 'HEARTBEAT_DEAD'",
      [ids],
    );
    expect(row!.n).toBe(6);
    expect(await pass(at(601))).toMatchObject({ deactivated: 0, batches: 1 });
  });

  it('waits after each statement but the last, the given percent of its time', async () => {
    await setup({}, 6);
    const waits: number[] = [];
    const record = async (ms: number) => {
      waits.push(ms);
    };
    const options = { batchSize: 2, scanWindow: 2, wait: record };
    const result = await cullPass(server.orm.em.fork(), new ManualClock(at(601)), silent, {
      ...options,
      yieldPercent: 100,
    });
    expect(result).toMatchObject({ deactivated: 6, complete: true });
    expect(waits).toHaveLength(result.batches - 1);
    for (const ms of waits) expect(ms).toBeGreaterThan(0);
    waits.length = 0;
    await cullPass(server.orm.em.fork(), new ManualClock(at(602)), silent, { ...options, yieldPercent: 0 });
    expect(waits).toEqual([]);
  });

  it('stops between statements when its worker stops; the next pass culls the rest', async () => {
    await setup({}, 6);
    const stopping = new AbortController();
    const stopped = await cullPass(server.orm.em.fork(), new ManualClock(at(601)), silent, {
      batchSize: 2,
      scanWindow: 2,
      signal: stopping.signal,
      wait: async () => stopping.abort(),
    });
    expect(stopped).toMatchObject({ batches: 1, complete: false });
    const rest = await cullPass(server.orm.em.fork(), new ManualClock(at(601)), silent, { batchSize: 2 });
    expect(stopped.deactivated + rest.deactivated).toBe(6);
    expect(rest.complete).toBe(true);
  });

  it('never culls a machine whose heartbeat is being recorded while the pass runs', async () => {
    const { ids } = await setup({}, 2);
    // A heartbeat in flight: its transaction holds the row and has moved lastHeartbeatAt on.
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    try {
      await client.query('begin');
      await client.query('update machines set last_heartbeat_at = $1 where id = $2', [at(599), ids[0]]);
      const result = await pass(at(600));
      await client.query('commit');
      expect(result.deactivated).toBe(1);
    } finally {
      await client.end();
    }
    server.clock.set(at(600));
    expect(await readMachine(ids[0]!)).toMatchObject({ deletedAt: null, heartbeatStatus: 'ALIVE' });
    expect(await readMachine(ids[1]!)).toMatchObject({ deactivationReason: 'HEARTBEAT_DEAD' });
  });

  it('logs one key=value line a pass', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    await setup({}, 2);
    await cullPass(server.orm.em.fork(), new ManualClock(at(600)), createLogger('info', stream), { batchSize: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).msg).toMatch(
      /^cull pass deactivated=\d+ marked_dead=\d+ batches=\d+ duration_ms=\d+\.\d$/,
    );
  });
});

describe('several workers at once', () => {
  it('two workers over the same 10 000 dead machines cull each exactly once, one event each', async () => {
    const { policyId } = await setup({ heartbeatCullStrategy: 'DEACTIVATE_DEAD' }, 0);
    const [license] = await server.sql<{ id: string }>('select id from licenses where policy_id = $1', [policyId]);
    await server.sql(
      `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
       select gen_random_uuid(), $1, 'bulk-' || i, '{}', $2, $2, $2 from generate_series(1, 10000) i`,
      [license!.id, at(-3600)],
    );
    // Two ORMs: two connection pools, as two worker processes would have.
    const log = createLogger('silent');
    const [a, b] = await Promise.all([
      initOrm({ clientUrl: server.databaseUrl, entities: ENTITIES, log, poolSize: 2 }),
      initOrm({ clientUrl: server.databaseUrl, entities: ENTITIES, log, poolSize: 2 }),
    ]);
    try {
      const clock = new ManualClock(at(0));
      const [ra, rb] = await Promise.all([
        cullPass(a.em.fork(), clock, log, { batchSize: 250 }),
        cullPass(b.em.fork(), clock, log, { batchSize: 250 }),
      ]);
      expect(ra.deactivated + rb.deactivated).toBe(10000);
      expect(ra.deactivated).toBeGreaterThan(0);
      expect(rb.deactivated).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const [counts] = await server.sql<{
      culled: number;
      events: number;
      machines_with_events: number;
      still_active: number;
    }>(
      `select (select count(*)::int from machines where license_id = $1 and deactivation_reason = 'HEARTBEAT_DEAD') as culled,
              (select count(*)::int from events e join machines m on m.id = e.machine_id where m.license_id = $1) as events,
              (select count(distinct machine_id)::int from events e join machines m on m.id = e.machine_id where m.license_id = $1) as machines_with_events,
              (select count(*)::int from machines where license_id = $1 and deleted_at is null) as still_active`,
      [license!.id],
    );
    expect(counts).toEqual({ culled: 10000, events: 10000, machines_with_events: 10000, still_active: 0 });
  });
});

describe('the schedule', () => {
  it('runs every minute by default', () => {
    const runs = new Cron(DEFAULT_WORKER_CRON, { paused: true }).nextRuns(3, new Date('2026-03-01T14:00:30.000Z'));
    expect(runs.map((d) => d.toISOString())).toEqual([
      '2026-03-01T14:01:00.000Z',
      '2026-03-01T14:02:00.000Z',
      '2026-03-01T14:03:00.000Z',
    ]);
  });

  it('runs passes on its schedule and stops cleanly', async () => {
    const { ids } = await setup({});
    const schedule = startWorkerSchedule(server.orm, new ManualClock(at(600)), silent, '0 0 * * *');
    try {
      expect(schedule.nextRun()).toBeInstanceOf(Date);
      await schedule.trigger();
    } finally {
      await schedule.stop();
    }
    server.clock.set(at(600));
    expect((await readMachine(ids[0]!)).deactivationReason).toBe('HEARTBEAT_DEAD');
  });

  it('`licentric worker --once` runs one pass as its own process and exits', async () => {
    // Its clock is the real one: make these machines' last heartbeats a day old by it.
    const { ids } = await setup({}, 2);
    await server.sql("update machines set last_heartbeat_at = now() - interval '1 day' where id = any($1)", [ids]);
    const result = await runCli(['worker', '--once'], {
      DATABASE_URL: server.databaseUrl,
      LICENTRIC_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
    });
    expect(result.code, result.stderr).toBe(0);
    const line = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string })
      .find((l) => l.msg.startsWith('cull pass'));
    expect(line?.msg).toMatch(/deactivated=\d+/);
    server.clock.set(new Date());
    for (const id of ids) expect((await readMachine(id)).deactivationReason).toBe('HEARTBEAT_DEAD');
  });
});
