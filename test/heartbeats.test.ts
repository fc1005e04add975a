import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { HeartbeatBatcher } from '../src/machines/heartbeat-batch.ts';
import { foldProcessCounts } from '../src/machines/process-count.ts';
import {
  activate,
  activated,
  bearer,
  countingPool,
  licenseAuth,
  patched,
  processCountDrift,
  read,
  seedApiKey,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

const T0 = '2026-03-01T14:00:00.000Z';
const at = (seconds: number, ms = 0) => new Date(new Date(T0).getTime() + seconds * 1000 + ms).toISOString();

async function setup(policy: Partial<CreatePolicy>) {
  server.clock.set(T0);
  const seeded = await seedPolicyAndLicense(server, admin, {
    name: 'heartbeats',
    requireHeartbeat: true,
    heartbeatDuration: 600,
    ...policy,
  });
  return { ...seeded, machine: await activate(server, seeded.key) };
}

const readMachine = (id: string) => read(server, admin, '/machines/{id}', id);
const beat = (key: string, id: string) =>
  server.client.POST('/machines/{id}/heartbeat', { headers: licenseAuth(key), params: { path: { id } } });

describe('heartbeat status, exact at read time', () => {
  it('is NOT_REQUIRED, with no next heartbeat, when the policy does not require heartbeats', async () => {
    const { machine } = await setup({ requireHeartbeat: false });
    expect(machine).toMatchObject({ heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null });
    server.clock.set('2030-01-01T00:00:00.000Z');
    expect(await readMachine(machine.id)).toMatchObject({ heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null });
  });

  it('is ALIVE until the deadline and DEAD from its millisecond on, without any worker run', async () => {
    const { machine } = await setup({});
    expect(machine).toMatchObject({ heartbeatStatus: 'ALIVE', nextHeartbeatAt: at(600) });
    server.clock.set(at(600, -1));
    expect((await readMachine(machine.id)).heartbeatStatus).toBe('ALIVE');
    server.clock.set(at(600));
    expect(await readMachine(machine.id)).toMatchObject({
      heartbeatStatus: 'DEAD',
      nextHeartbeatAt: at(600),
      deletedAt: null,
    });
  });

  it('follows a policy change for existing machines at once', async () => {
    const { machine, policyId } = await setup({ heartbeatDuration: 600 });
    server.clock.set(at(300));
    expect((await readMachine(machine.id)).heartbeatStatus).toBe('ALIVE');
    await patched(server, admin, '/policies/{id}', policyId, { heartbeatDuration: 120 });
    expect(await readMachine(machine.id)).toMatchObject({ heartbeatStatus: 'DEAD', nextHeartbeatAt: at(120) });
    await patched(server, admin, '/policies/{id}', policyId, { requireHeartbeat: false });
    expect((await readMachine(machine.id)).heartbeatStatus).toBe('NOT_REQUIRED');
  });

  it('filters lists by heartbeat status, so KEEP_DEAD machines can be found and deactivated', async () => {
    const { key, licenseId, machine: dead } = await setup({ heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(300));
    const alive = await activate(server, key);
    server.clock.set(at(700));
    const list = async (heartbeatStatus: 'ALIVE' | 'DEAD' | 'NOT_REQUIRED') =>
      (
        await server.client.GET('/machines', { headers: admin, params: { query: { licenseId, heartbeatStatus } } })
      ).data!.data.map((m) => m.id);
    expect(await list('DEAD')).toEqual([dead.id]);
    expect(await list('ALIVE')).toEqual([alive.id]);
    expect(await list('NOT_REQUIRED')).toEqual([]);

    const writer = bearer(await seedApiKey(server, ['machines:write']));
    const { response } = await server.client.DELETE('/machines/{id}', {
      headers: writer,
      params: { path: { id: dead.id } },
    });
    expect(response.status).toBe(200);
    expect(await readMachine(dead.id)).toMatchObject({ deactivationReason: 'MANUAL', deletedAt: at(700) });
    expect(await list('DEAD')).toEqual([]);
    const bad = await fetch(`${server.apiUrl}/machines?heartbeatStatus=dead`, { headers: admin });
    expect(bad.status).toBe(400);
  });
});

describe('the DEAD filter across policies', () => {
  // The filter drops, before it joins a machine's policy, every machine that beat within the
  // shortest heartbeat duration of any policy (heartbeatSql.mayBeDead): 60 s is the least a
  // policy may have, so here the shortest is the short policy's own, exact to the millisecond.
  it("finds each policy's dead at its own deadline, not at the shortest policy's", async () => {
    const short = await setup({ heartbeatDuration: 60 });
    const long = await setup({ heartbeatDuration: 7200 });
    const relaxed = await setup({ requireHeartbeat: false });
    const dead = async (licenseId: string) =>
      (
        await server.client.GET('/machines', {
          headers: admin,
          params: { query: { licenseId, heartbeatStatus: 'DEAD' } },
        })
      ).data!.data.map((m) => m.id);
    server.clock.set(at(60, -1));
    expect(await dead(short.licenseId)).toEqual([]);
    server.clock.set(at(60));
    expect(await dead(short.licenseId)).toEqual([short.machine.id]);
    server.clock.set(at(7200, -1));
    expect(await dead(long.licenseId)).toEqual([]);
    server.clock.set(at(7200));
    expect(await dead(long.licenseId)).toEqual([long.machine.id]);
    server.clock.set('2030-01-01T00:00:00.000Z');
    expect(await dead(relaxed.licenseId)).toEqual([]);
  });
});

describe('POST /machines/{id}/heartbeat', () => {
  it('keeps an alive machine alive: ALIVE, with the next deadline', async () => {
    const { key, machine } = await setup({});
    server.clock.set(at(599));
    const { response, data } = await beat(key, machine.id);
    expect(response.status).toBe(200);
    expect(data!.data).toEqual({
      id: machine.id,
      lastHeartbeatAt: at(599),
      heartbeatStatus: 'ALIVE',
      nextHeartbeatAt: at(1199),
    });
    expect(await readMachine(machine.id)).toMatchObject({ heartbeatStatus: 'ALIVE', lastHeartbeatAt: at(599) });
  });

  it('revives a dead machine inside its resurrection window: RESURRECTED, and an event', async () => {
    const { key, machine } = await setup({ heartbeatResurrectionWindow: 3600, heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(600 + 3600, -1));
    expect((await readMachine(machine.id)).heartbeatStatus).toBe('DEAD');
    const { response, data } = await beat(key, machine.id);
    expect(response.status).toBe(200);
    expect(data!.data).toMatchObject({ heartbeatStatus: 'RESURRECTED', lastHeartbeatAt: at(4200, -1) });
    expect((await readMachine(machine.id)).heartbeatStatus).toBe('ALIVE');
    const events = await server.sql(
      `select type, data::jsonb - 'machine' as data from events where machine_id = $1 and type <> 'machine.activated'`,
      [machine.id],
    );
    expect(events).toEqual([{ type: 'machine.heartbeat.resurrected', data: { deadSince: at(600) } }]);
  });

  it('refuses a dead machine past its resurrection window: 422 MACHINE_HEARTBEAT_DEAD, nothing recorded', async () => {
    const { key, machine } = await setup({ heartbeatResurrectionWindow: 3600, heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(600 + 3600));
    const { response, error } = await beat(key, machine.id);
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'MACHINE_HEARTBEAT_DEAD', status: 422 });
    expect(await readMachine(machine.id)).toMatchObject({ heartbeatStatus: 'DEAD', lastHeartbeatAt: T0 });
  });

  it('with no resurrection window (the default), a dead machine cannot be revived', async () => {
    const { key, machine } = await setup({ heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(600));
    expect((await beat(key, machine.id)).response.status).toBe(422);
    server.clock.set(at(600, -1));
    expect((await beat(key, machine.id)).data!.data.heartbeatStatus).toBe('ALIVE');
  });

  it('answers NOT_REQUIRED for a policy without heartbeats', async () => {
    const { key, machine } = await setup({ requireHeartbeat: false });
    server.clock.set('2031-01-01T00:00:00.000Z');
    expect((await beat(key, machine.id)).data!.data).toMatchObject({
      heartbeatStatus: 'NOT_REQUIRED',
      nextHeartbeatAt: null,
    });
  });

  it('answers 404 for a deactivated machine, dead or not', async () => {
    const { key, machine } = await setup({});
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(key), params: { path: { id: machine.id } } });
    expect((await beat(key, machine.id)).response.status).toBe(404);
  });
});

async function batchLicense(policy: Partial<CreatePolicy>) {
  return (
    await seedPolicyAndLicense(server, admin, {
      name: 'batch',
      requireHeartbeat: true,
      heartbeatDuration: 600,
      ...policy,
    })
  ).key;
}

const rawBeat = (key: string, id: string) =>
  fetch(`${server.apiUrl}/machines/${id}/heartbeat`, { method: 'POST', headers: licenseAuth(key) }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as { data?: { heartbeatStatus: string }; code?: string },
  }));

describe('heartbeats written together (group commit)', () => {
  it('gives every concurrent heartbeat its own outcome: ALIVE, RESURRECTED with its event, MACHINE_HEARTBEAT_DEAD, 404', async () => {
    server.clock.set(T0);
    // Alive machines beat at 300 s; revivable ones died at 600 s and may revive until 1 200 s;
    // the past-reviving ones' policy allows no revival at all.
    const aliveKey = await batchLicense({ heartbeatDuration: 3600 });
    const revivableKey = await batchLicense({ heartbeatDuration: 100, heartbeatResurrectionWindow: 3600 });
    const goneKey = await batchLicense({
      heartbeatDuration: 100,
      heartbeatResurrectionWindow: 0,
      heartbeatCullStrategy: 'KEEP_DEAD',
    });
    const [alive, revivable, gone] = [
      await activated(server, aliveKey, 12),
      await activated(server, revivableKey, 12),
      await activated(server, goneKey, 12),
    ];
    server.clock.set(at(300));

    const requests = [
      ...alive.map((id) => rawBeat(aliveKey, id)),
      ...revivable.map((id) => rawBeat(revivableKey, id)),
      ...gone.map((id) => rawBeat(goneKey, id)),
      // Another license's machine, and one that does not exist.
      ...alive.slice(0, 6).map((id) => rawBeat(revivableKey, id)),
      rawBeat(aliveKey, '0190a0a0-0000-7000-8000-000000000000'),
    ];
    const results = await Promise.all(requests);
    const tally = (from: number, to: number) =>
      results.slice(from, to).map((r) => r.body.data?.heartbeatStatus ?? `${r.status} ${r.body.code}`);
    expect(tally(0, 12)).toEqual(Array(12).fill('ALIVE'));
    expect(tally(12, 24)).toEqual(Array(12).fill('RESURRECTED'));
    expect(tally(24, 36)).toEqual(Array(12).fill('422 MACHINE_HEARTBEAT_DEAD'));
    expect(tally(36, 43)).toEqual(Array(7).fill('404 MACHINE_NOT_FOUND'));

    const events = await server.sql<{ machine_id: string; data: { deadSince: string } }>(
      `select machine_id, data from events where type = 'machine.heartbeat.resurrected' and machine_id = any($1::uuid[])`,
      [revivable],
    );
    expect(events.map((e) => e.machine_id).sort()).toEqual([...revivable].sort());
    expect(new Set(events.map((e) => e.data.deadSince))).toEqual(new Set([at(100)]));
    const rows = await server.sql<{ id: string; last_heartbeat_at: Date }>(
      'select id, last_heartbeat_at from machines where id = any($1::uuid[])',
      [[...alive, ...revivable, ...gone]],
    );
    for (const row of rows) expect(row.last_heartbeat_at.toISOString()).toBe(gone.includes(row.id) ? T0 : at(300));
  });

  it('writes a machine beaten twice at once twice, one after the other: one resurrection, then alive', async () => {
    server.clock.set(T0);
    const key = await batchLicense({ heartbeatDuration: 100, heartbeatResurrectionWindow: 3600 });
    const [id] = await activated(server, key, 1);
    server.clock.set(at(300));
    const statuses = (await Promise.all([rawBeat(key, id!), rawBeat(key, id!), rawBeat(key, id!)])).map(
      (r) => r.body.data?.heartbeatStatus,
    );
    expect(statuses.sort()).toEqual(['ALIVE', 'ALIVE', 'RESURRECTED']);
    const [row] = await server.sql<{ n: number }>(
      `select count(*)::int as n from events where type = 'machine.heartbeat.resurrected' and machine_id = $1`,
      [id],
    );
    expect(row!.n).toBe(1);
  });

  it('collects the beats that arrive while a statement is being written into one statement', async () => {
    server.clock.set(T0);
    const key = await batchLicense({});
    const ids = await activated(server, key, 40);
    const [{ license_id: licenseId }] = (await server.sql<{ license_id: string }>(
      'select license_id from machines where id = $1',
      [ids[0]],
    )) as [{ license_id: string }];
    const { pool, statements } = await countingPool(server);
    const batcher = new HeartbeatBatcher(pool);
    const rows = await Promise.all(ids.map((id) => batcher.beat({ id, licenseId, now: new Date(at(60)) })));
    expect(rows.map((row) => row?.beaten)).toEqual(Array(40).fill(true));
    // The first goes alone, at once; the other 39 wait for it and go together.
    expect(statements()).toBe(2);
    const first = await batcher.beat({ id: ids[0]!, licenseId, now: new Date(at(61)) });
    expect(first).toMatchObject({ beaten: true });
    expect(statements()).toBe(3);
  });
});

describe('heartbeats against the worker', () => {
  // The worker's passes log events for machines they touch (a process released, a machine
  // culled): each insert checks its machine id with a KEY SHARE lock on the machine's row, taken
  // in the pass's order. A heartbeat statement that locked its machines FOR UPDATE waited for
  // that lock, and held the machines before it in id order meanwhile, which the pass could then
  // wait for in turn: PostgreSQL broke the cycle by failing the heartbeats (40P01, a 500), seen
  // under `make bench-scale`. A heartbeat changes no key, so it takes FOR NO KEY UPDATE, which a
  // key-share lock does not block.
  it('is not held up by a transaction that has logged an event for the machine', async () => {
    const { key, licenseId, machine } = await setup({});
    const pass = new pg.Client({ connectionString: server.databaseUrl });
    await pass.connect();
    try {
      await pass.query('begin');
      await pass.query(
        `insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
         values ('machine.heartbeat.dead', now(), $1, $2, 'worker', null, '{}')`,
        [machine.id, licenseId],
      );
      server.clock.set(at(60));
      expect(await within3s(beat(key, machine.id).then(({ response }) => String(response.status)))).toBe('200');
    } finally {
      await pass.query('rollback');
      await pass.end();
    }
  });

  // Folding process counts writes `machines.process_count` (process-count.ts): the worker's pass
  // does for every license with deltas, a spawn for its own. A heartbeat statement holds its
  // machines, taken in id order, until it commits. The fold waited for any machine a heartbeat
  // held while holding others, which the heartbeat could be waiting for (40P01, 500s for heartbeats
  // under `make bench-scale`). A fold now leaves a held machine's deltas to the next. Here a
  // transaction stands in for that heartbeat statement: it holds the lowest machine while a fold
  // runs, then takes the rest.
  const folds = {
    'the worker': async () => {
      await foldProcessCounts(server.orm.em.fork());
    },
    'a spawn': async (key: string, id: string) => {
      const { response } = await spawn(key, id);
      expect(response.status).toBe(201);
    },
  };
  for (const [folder, fold] of Object.entries(folds)) {
    it(`and ${folder}'s fold of process counts never wait for each other`, async () => {
      const { key, licenseId, machine } = await setup({});
      const ids = [machine.id, ...(await activated(server, key, 23))].sort();
      // Spawned, then released: every machine has a count delta waiting to be folded.
      const processes = [];
      for (const id of ids) processes.push((await spawn(key, id)).data!.data.id);
      for (const id of processes) {
        const { response } = await server.client.DELETE('/processes/{id}', {
          headers: licenseAuth(key),
          params: { path: { id } },
        });
        expect(response.status).toBe(200);
      }
      const rest = await holdingFirst('machines', ids, async () => {
        expect(await within3s(fold(key, ids[12]!).then(() => 'folded'))).toBe('folded');
      });
      expect(rest).toBe('locked');
      // The held machine's deltas waited for the next fold; the counts were right all along.
      expect(await processCountDrift(server)).toEqual([]);
      await foldProcessCounts(server.orm.em.fork());
      expect(await server.sql('select * from process_count_deltas where license_id = $1', [licenseId])).toEqual([]);
      expect(await processCountDrift(server)).toEqual([]);
    });
  }
});

describe('heartbeats against a license deletion', () => {
  // Deleting a license deactivates its machines in one statement, which read them in the table's
  // order: a machine's newest row version sits after the rows written before it, so one that has
  // beaten comes after machines with higher ids. A heartbeat statement holding that machine and
  // going on in id order to the next, which the deletion held, closed a cycle (40P01). The
  // deletion now takes its machines in id order too.
  it('takes the machines in id order, as heartbeats do', async () => {
    const { key, licenseId, machine } = await setup({});
    const ids = [machine.id, ...(await activated(server, key, 23))].sort();
    server.clock.set(at(60));
    expect((await beat(key, ids[0]!)).response.status).toBe(200);
    let deleting: Promise<number> | undefined;
    const rest = await holdingFirst('machines', ids, async () => {
      deleting = server.client
        .DELETE('/licenses/{id}', { headers: admin, params: { path: { id: licenseId } } })
        .then(({ response }) => response.status);
      await waitForLockWait();
    });
    expect(rest).toBe('locked');
    expect(await deleting).toBe(200);
  });
});

describe('process heartbeats against a deactivation', () => {
  // A machine's deactivation releases its processes in the same statement, which deleted them in
  // the order it read them (by last heartbeat, or the table's), where the process that beat last
  // comes after the others. A
  // process heartbeat statement holds its processes, taken in id order: holding that process and
  // going on to the next, which the deactivation held, it closed a cycle (40P01). Releases now
  // take their processes in id order too.
  it('releases the processes in id order, as process heartbeats take them', async () => {
    const { key, machine } = await setup({});
    const ids = [];
    for (let i = 0; i < 24; i++) ids.push((await spawn(key, machine.id)).data!.data.id);
    ids.sort();
    server.clock.set(at(60));
    const { response } = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: ids[0]! } },
    });
    expect(response.status).toBe(200);
    let deactivating: Promise<number> | undefined;
    const rest = await holdingFirst('processes', ids, async () => {
      deactivating = server.client
        .DELETE('/machines/{id}', { headers: licenseAuth(key), params: { path: { id: machine.id } } })
        .then(({ response }) => response.status);
      await waitForLockWait();
    });
    expect(rest).toBe('locked');
    expect(await deactivating).toBe(200);
    expect(await server.sql('select id from processes where machine_id = $1', [machine.id])).toEqual([]);
  });
});

/**
 * A transaction in place of a heartbeat statement, which takes its rows in id order: it holds the
 * lowest of `ids` (rows of `table`) while `meanwhile` runs, then takes the rest. Answers "locked",
 * or what kept it from them within 3 s.
 */
async function holdingFirst(
  table: 'machines' | 'processes',
  ids: string[],
  meanwhile: () => Promise<void>,
): Promise<string> {
  const heartbeat = new pg.Client({ connectionString: server.databaseUrl });
  await heartbeat.connect();
  try {
    await heartbeat.query('begin');
    await heartbeat.query(`select id from ${table} where id = $1 for no key update`, [ids[0]]);
    await meanwhile();
    const rest = heartbeat.query(`select id from ${table} where id = any($1::uuid[]) order by id for no key update`, [
      ids.slice(1),
    ]);
    return await within3s(rest.then(() => 'locked'));
  } finally {
    await heartbeat.query('rollback');
    await heartbeat.end();
  }
}

/** Until some backend waits for a lock (at most 5 s). */
async function waitForLockWait(): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 5000; ) {
    const [row] = await server.sql<{ n: number }>('select count(*)::int as n from pg_locks where not granted');
    if (row!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no backend waited for a lock within 5 s');
}

function within3s(work: Promise<string>): Promise<string> {
  return Promise.race([
    work.catch((error: { code?: string; message?: string }) => `failed: ${error.code ?? error.message}`),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000)),
  ]);
}

const spawn = (key: string, id: string) =>
  server.client.POST('/machines/{id}/processes', { headers: licenseAuth(key), params: { path: { id } }, body: {} });
