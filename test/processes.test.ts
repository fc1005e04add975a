import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import { HeartbeatBatcher } from '../src/machines/heartbeat-batch.ts';
import { cullProcessesPass } from '../src/machines/process-cull.ts';
import { leaseExpiresAt, processHeartbeatStatus } from '../src/machines/process-lease.ts';
import {
  activate,
  activated,
  bearer,
  type Credentials,
  countingPool,
  licenseAuth,
  type Problem,
  processCountDrift,
  read,
  seedApiKey,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type Process = components['schemas']['Process'];
type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const silent = createLogger('silent');

let seq = 0;
/** A license under a policy of its own with the given process settings. */
function license(policy: Omit<CreatePolicy, 'name'>) {
  return seedPolicyAndLicense(server, admin, { name: `processes ${++seq}`, ...policy });
}

async function spawn(key: string, machineId: string, body: Record<string, unknown> = {}): Promise<Process> {
  const { response, data, error } = await server.client.POST('/machines/{id}/processes', {
    headers: licenseAuth(key),
    params: { path: { id: machineId } },
    body,
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

/** A spawn as a bare response, whatever its status: for races that tally the answers. */
function rawSpawn(key: string, machineId: string): Promise<Response> {
  return fetch(`${server.apiUrl}/machines/${machineId}/processes`, {
    method: 'POST',
    headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
    body: '{}',
  });
}

async function refusedSpawn(key: string, machineId: string): Promise<Problem> {
  const response = await rawSpawn(key, machineId);
  const body = (await response.json()) as Problem;
  expect(response.status, JSON.stringify(body)).toBe(422);
  expect(body.code).toBe('PROCESS_LIMIT_EXCEEDED');
  return body;
}

async function release(credentials: Credentials, id: string): Promise<number> {
  const { response } = await server.client.DELETE('/processes/{id}', {
    headers: credentials,
    params: { path: { id } },
  });
  return response.status;
}

/** Live rows of a license, from the table. */
async function rows(licenseId: string): Promise<number> {
  const [row] = await server.sql<{ n: number }>('select count(*)::int as n from processes where license_id = $1', [
    licenseId,
  ]);
  return row!.n;
}

async function eventsOf(type: string, licenseId: string) {
  return server.sql<{ type: string; machine_id: string; data: { process: Process; reason?: string } }>(
    'select type, machine_id, data from events where type = $1 and license_id = $2 order by id',
    [type, licenseId],
  );
}

async function validate(key: string, fingerprint?: string) {
  const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body: fingerprint === undefined ? {} : { fingerprint },
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

describe('processes', () => {
  it('spawns, reads, heartbeats and releases a process, with its events', async () => {
    const { key, licenseId, policyId } = await license({ maxProcesses: 2, processHeartbeatDuration: 300 });
    const machine = await activate(server, key);
    const spawned = await spawn(key, machine.id, { pid: '4242', metadata: { job: 'shot-1' } });
    const now = server.clock.now();
    expect(spawned).toEqual({
      id: expect.any(String),
      machineId: machine.id,
      licenseId,
      productId: null,
      pid: '4242',
      metadata: { job: 'shot-1' },
      lastHeartbeatAt: now.toISOString(),
      heartbeatStatus: 'ALIVE',
      nextHeartbeatAt: new Date(now.getTime() + 300_000).toISOString(),
      createdAt: now.toISOString(),
    });
    expect(await read(server, admin, '/processes/{id}', spawned.id)).toEqual(spawned);
    const [event] = await eventsOf('process.spawned', licenseId);
    expect(event!.data.process).toEqual(spawned);
    expect(event!.machine_id).toBe(machine.id);

    server.clock.advance(120_000);
    const beat = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: spawned.id } },
    });
    expect(beat.response.status).toBe(200);
    const at = server.clock.now();
    expect(beat.data!.data).toEqual({
      id: spawned.id,
      lastHeartbeatAt: at.toISOString(),
      heartbeatStatus: 'ALIVE',
      nextHeartbeatAt: new Date(at.getTime() + 300_000).toISOString(),
    });
    expect((await read(server, admin, '/processes/{id}', spawned.id)).lastHeartbeatAt).toBe(at.toISOString());

    // The policy's duration is read when the lease is: a change applies to live processes at once.
    await server.client.PATCH('/policies/{id}', {
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      params: { path: { id: policyId } },
      body: { processHeartbeatDuration: 600 },
    });
    expect((await read(server, admin, '/processes/{id}', spawned.id)).nextHeartbeatAt).toBe(
      new Date(at.getTime() + 600_000).toISOString(),
    );

    expect(await release(licenseAuth(key), spawned.id)).toBe(200);
    expect(await release(licenseAuth(key), spawned.id)).toBe(404);
    const gone = await server.client.GET('/processes/{id}', { headers: admin, params: { path: { id: spawned.id } } });
    expect(gone.response.status).toBe(404);
    expect(gone.error?.code).toBe('PROCESS_NOT_FOUND');
    const [released] = await eventsOf('process.released', licenseId);
    expect(released!.data.reason).toBe('DEACTIVATED');
    expect(released!.data.process.id).toBe(spawned.id);
    expect(await rows(licenseId)).toBe(0);
  });

  it('holds PER_MACHINE limits per machine, and a release frees the seat at once', async () => {
    const { key, licenseId } = await license({ maxProcesses: 2, processLeasingStrategy: 'PER_MACHINE' });
    const [a, b] = await activated(server, key, 2);
    const first = await spawn(key, a!);
    await spawn(key, a!);
    const refused = await refusedSpawn(key, a!);
    expect(refused.processCount).toBe(2);
    expect(refused.oldestLeaseExpiresAt).toBe(first.nextHeartbeatAt);
    // Another machine of the license has seats of its own.
    await spawn(key, b!);
    await spawn(key, b!);
    await refusedSpawn(key, b!);
    expect(await release(licenseAuth(key), first.id)).toBe(200);
    await spawn(key, a!);
    expect(await rows(licenseId)).toBe(4);
    expect(await processCountDrift(server)).toEqual([]);
  });

  it('holds PER_LICENSE limits across the license machines: floating seats', async () => {
    const { key, licenseId } = await license({ maxProcesses: 3, processLeasingStrategy: 'PER_LICENSE' });
    const nodes = await activated(server, key, 5);
    await spawn(key, nodes[0]!);
    server.clock.advance(1000);
    await spawn(key, nodes[1]!);
    const third = await spawn(key, nodes[2]!);
    const refused = await refusedSpawn(key, nodes[3]!);
    expect(refused.processCount).toBe(3);
    await refusedSpawn(key, nodes[0]!);
    expect(await release(bearer(await seedApiKey(server, ['machines:write'])), third.id)).toBe(200);
    await spawn(key, nodes[4]!);
    expect(await rows(licenseId)).toBe(3);
  });

  it('never counts an expired lease: a spawn at the limit releases it, once', async () => {
    const { key, licenseId } = await license({
      maxProcesses: 2,
      processLeasingStrategy: 'PER_LICENSE',
      processHeartbeatDuration: 60,
    });
    const machine = await activate(server, key);
    const dying = await spawn(key, machine.id);
    server.clock.advance(30_000);
    const living = await spawn(key, machine.id);
    const refused = await refusedSpawn(key, machine.id);
    expect(refused.oldestLeaseExpiresAt).toBe(dying.nextHeartbeatAt);
    expect((await validate(key, machine.fingerprint)).processes).toEqual({
      machineCount: 2,
      licenseCount: 2,
      freeSeats: 0,
    });

    // At its deadline the lease is gone: it no longer counts, reads say DEAD, a heartbeat is refused.
    server.clock.set(dying.nextHeartbeatAt);
    expect((await validate(key, machine.fingerprint)).processes).toEqual({
      machineCount: 1,
      licenseCount: 1,
      freeSeats: 1,
    });
    expect((await read(server, admin, '/processes/{id}', dying.id)).heartbeatStatus).toBe('DEAD');
    const dead = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: dying.id } },
    });
    expect(dead.response.status).toBe(422);
    expect(dead.error?.code).toBe('PROCESS_HEARTBEAT_DEAD');

    const taken = await spawn(key, machine.id);
    expect(await rows(licenseId)).toBe(2);
    const released = await eventsOf('process.released', licenseId);
    expect(released.map((e) => [e.data.process.id, e.data.reason])).toEqual([[dying.id, 'HEARTBEAT_DEAD']]);
    // The worker finds nothing more to release: the spawn did it, once.
    await cullProcessesPass(server.orm.em.fork(), server.clock, silent);
    expect(await eventsOf('process.released', licenseId)).toHaveLength(1);
    expect((await read(server, admin, '/processes/{id}', living.id)).heartbeatStatus).toBe('ALIVE');
    expect((await read(server, admin, '/processes/{id}', taken.id)).heartbeatStatus).toBe('ALIVE');
    expect(await processCountDrift(server)).toEqual([]);
  });

  it('agrees with SQL on the lease boundary', async () => {
    const last = new Date('2026-03-01T14:00:00.000Z');
    const expiry = leaseExpiresAt(last, 60);
    for (const [now, status] of [
      [new Date(expiry.getTime() - 1), 'ALIVE'],
      [expiry, 'DEAD'],
    ] as const) {
      expect(processHeartbeatStatus(last, 60, now)).toBe(status);
      const [row] = await server.sql<{ status: string }>(
        `select case when $1::timestamptz <= $2::timestamptz - make_interval(secs => 60) then 'DEAD' else 'ALIVE' end as status`,
        [last.toISOString(), now.toISOString()],
      );
      expect(row!.status).toBe(status);
    }
  });

  for (const strategy of ['PER_MACHINE', 'PER_LICENSE'] as const) {
    it(`never overshoots ${strategy} under 50 concurrent spawns, and the counts stay count(*)`, async () => {
      const { key, licenseId } = await license({ maxProcesses: 7, processLeasingStrategy: strategy });
      const machines = await activated(server, key, 3);
      const targets = strategy === 'PER_MACHINE' ? [machines[0]!] : machines;
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => rawSpawn(key, targets[i % targets.length]!)),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(7);
      expect(statuses.filter((s) => s === 422)).toHaveLength(43);
      expect(await rows(licenseId)).toBe(7);
      expect(await processCountDrift(server)).toEqual([]);
    });
  }

  it('keeps the counters equal to count(*) under concurrent spawns, releases, deactivations and culls', async () => {
    const { key, licenseId } = await license({
      maxProcesses: 30,
      processLeasingStrategy: 'PER_LICENSE',
      processHeartbeatDuration: 60,
    });
    const machines = await activated(server, key, 4);
    const held: string[] = [];
    for (let i = 0; i < 12; i++) held.push((await spawn(key, machines[i % 4]!)).id);
    const later = new ManualClock(new Date(server.clock.now().getTime() + 3_600_000));
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) work.push(rawSpawn(key, machines[i % 4]!));
    for (const id of held.slice(0, 6)) work.push(release(licenseAuth(key), id));
    work.push(fetch(`${server.apiUrl}/machines/${machines[3]}`, { method: 'DELETE', headers: licenseAuth(key) }));
    for (let i = 0; i < 2; i++) work.push(cullProcessesPass(server.orm.em.fork(), later, silent, { batchSize: 3 }));
    const settled = await Promise.allSettled(work);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    const statuses = settled.flatMap((s) =>
      s.status === 'fulfilled' && s.value instanceof Response ? [s.value.status] : [],
    );
    expect(statuses.filter((s) => ![201, 200, 404, 422].includes(s))).toEqual([]);
    expect(await processCountDrift(server)).toEqual([]);
    await cullProcessesPass(server.orm.em.fork(), later, silent);
    expect(await rows(licenseId)).toBe(0);
    expect(await processCountDrift(server)).toEqual([]);
    expect(await server.sql('select * from process_count_deltas where license_id = $1', [licenseId])).toEqual([]);
  });

  it('releases an expired lease once when a spawn needing its seat races its machine deactivation', async () => {
    for (let round = 0; round < 8; round++) {
      const { key, licenseId } = await license({
        maxProcesses: 4,
        processLeasingStrategy: 'PER_LICENSE',
        processHeartbeatDuration: 60,
      });
      const [a, b] = await activated(server, key, 2);
      const expiring = [await spawn(key, b!), await spawn(key, b!), await spawn(key, b!), await spawn(key, b!)];
      server.clock.advance(61_000);
      const [spawned, deactivated] = await Promise.all([
        rawSpawn(key, a!),
        fetch(`${server.apiUrl}/machines/${b}`, { method: 'DELETE', headers: licenseAuth(key) }),
      ]);
      expect(deactivated.status).toBe(200);
      // The spawn either reaped the leases or found them released with their machine: a seat either way.
      expect(spawned.status, await spawned.text()).toBe(201);
      const released = await eventsOf('process.released', licenseId);
      expect(released.map((e) => e.data.process.id).sort()).toEqual(expiring.map((p) => p.id).sort());
      expect(await rows(licenseId)).toBe(1);
    }
    expect(await processCountDrift(server)).toEqual([]);
  });

  it('culls each dead process exactly once with two workers, never one that just beat', async () => {
    const { key, licenseId } = await license({ processHeartbeatDuration: 60 });
    const machines = await activated(server, key, 3);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await spawn(key, machines[i % 3]!)).id);
    server.clock.advance(59_000);
    const beaten = ids[0]!;
    const beat = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: beaten } },
    });
    expect(beat.response.status).toBe(200);
    const later = new ManualClock(new Date(server.clock.now().getTime() + 2_000));
    const passes = await Promise.all([
      cullProcessesPass(server.orm.em.fork(), later, silent, { batchSize: 4 }),
      cullProcessesPass(server.orm.em.fork(), later, silent, { batchSize: 4 }),
    ]);
    expect(passes[0]!.released + passes[1]!.released).toBeGreaterThanOrEqual(29);
    // Each process released once, by one of the two passes, whatever else they released.
    expect(
      await server.sql(
        `select data->'process'->>'id' as id from events where type = 'process.released' group by 1 having count(*) > 1`,
      ),
    ).toEqual([]);
    const released = await eventsOf('process.released', licenseId);
    expect(released).toHaveLength(29);
    expect(new Set(released.map((e) => e.data.process.id)).size).toBe(29);
    expect(released.every((e) => e.data.reason === 'HEARTBEAT_DEAD' && e.data.process.heartbeatStatus === 'DEAD')).toBe(
      true,
    );
    expect(released.map((e) => e.data.process.id)).not.toContain(beaten);
    expect(await rows(licenseId)).toBe(1);
    expect(await processCountDrift(server)).toEqual([]);
  });

  it('releases the processes of a deactivated machine, deleted license or culled machine', async () => {
    const { key, licenseId } = await license({ requireHeartbeat: true, heartbeatDuration: 600 });
    const [a, b] = await activated(server, key, 2);
    const onA = [await spawn(key, a!), await spawn(key, a!)];
    await spawn(key, b!);
    const deactivated = await fetch(`${server.apiUrl}/machines/${a}`, { method: 'DELETE', headers: licenseAuth(key) });
    expect(deactivated.status).toBe(200);
    const released = await eventsOf('process.released', licenseId);
    expect(released.map((e) => e.data.reason)).toEqual(['MACHINE_DEACTIVATED', 'MACHINE_DEACTIVATED']);
    expect(released.map((e) => e.data.process.id).sort()).toEqual(onA.map((p) => p.id).sort());
    expect(await rows(licenseId)).toBe(1);
    // A deactivated machine spawns nothing.
    const gone = await rawSpawn(key, a!);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as Problem).code).toBe('MACHINE_NOT_FOUND');

    // The machine cull (DEACTIVATE_DEAD) takes its processes with the machine.
    const cullClock = new ManualClock(new Date(server.clock.now().getTime() + 3_600_000));
    await cullPass(server.orm.em.fork(), cullClock, silent);
    expect(await rows(licenseId)).toBe(0);
    expect((await eventsOf('process.released', licenseId)).map((e) => e.data.reason)).toEqual([
      'MACHINE_DEACTIVATED',
      'MACHINE_DEACTIVATED',
      'MACHINE_DEACTIVATED',
    ]);

    const other = await license({});
    const machine = await activate(server, other.key);
    await spawn(other.key, machine.id);
    const deleted = await fetch(`${server.apiUrl}/licenses/${other.licenseId}`, { method: 'DELETE', headers: admin });
    expect(deleted.status).toBe(200);
    expect(await rows(other.licenseId)).toBe(0);
    expect(await processCountDrift(server)).toEqual([]);
  });

  it('validate reports the machine process count and the free seats', async () => {
    const perMachine = await license({ maxProcesses: 3, processLeasingStrategy: 'PER_MACHINE' });
    const [a, b] = await Promise.all([activate(server, perMachine.key), activate(server, perMachine.key)]);
    await spawn(perMachine.key, a.id);
    await spawn(perMachine.key, a.id);
    await spawn(perMachine.key, b.id);
    expect((await validate(perMachine.key, a.fingerprint)).processes).toEqual({
      machineCount: 2,
      licenseCount: 3,
      freeSeats: 1,
    });
    expect((await validate(perMachine.key)).processes).toEqual({
      machineCount: null,
      licenseCount: 3,
      freeSeats: null,
    });

    const floating = await license({ maxProcesses: 10, processLeasingStrategy: 'PER_LICENSE' });
    const node = await activate(server, floating.key);
    await spawn(floating.key, node.id);
    expect((await validate(floating.key)).processes).toEqual({ machineCount: null, licenseCount: 1, freeSeats: 9 });
    expect((await validate(floating.key, node.fingerprint)).processes).toEqual({
      machineCount: 1,
      licenseCount: 1,
      freeSeats: 9,
    });

    const unlimited = await license({});
    const m = await activate(server, unlimited.key);
    await spawn(unlimited.key, m.id);
    expect((await validate(unlimited.key, m.fingerprint)).processes).toEqual({
      machineCount: 1,
      licenseCount: 1,
      freeSeats: null,
    });
  });

  it('lists processes in pages, by license and machine', async () => {
    const { key, licenseId } = await license({});
    const [a, b] = await activated(server, key, 2);
    const onA = [await spawn(key, a!), await spawn(key, a!), await spawn(key, a!)];
    const onB = await spawn(key, b!);
    const page1 = await server.client.GET('/processes', {
      headers: admin,
      params: { query: { machineId: a!, limit: 2 } },
    });
    expect(page1.data!.data.map((p) => p.id)).toEqual(onA.slice(0, 2).map((p) => p.id));
    expect(page1.data!.pagination.hasMore).toBe(true);
    const page2 = await server.client.GET('/processes', {
      headers: admin,
      params: { query: { machineId: a!, limit: 2, cursor: page1.data!.pagination.nextCursor! } },
    });
    expect(page2.data!.data.map((p) => p.id)).toEqual([onA[2]!.id]);
    expect(page2.data!.pagination.hasMore).toBe(false);
    const all = await server.client.GET('/processes', { headers: admin, params: { query: { licenseId } } });
    expect(all.data!.data.map((p) => p.id)).toEqual([...onA, onB].map((p) => p.id));
  });

  it('keeps another license and another product out', async () => {
    const mine = await license({});
    const theirs = await license({});
    const machine = await activate(server, mine.key);
    const process = await spawn(mine.key, machine.id);
    // Another license's key: its machine and its process do not exist.
    const spawnElsewhere = await rawSpawn(theirs.key, machine.id);
    expect(spawnElsewhere.status).toBe(404);
    expect(await release(licenseAuth(theirs.key), process.id)).toBe(404);
    const beat = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(theirs.key),
      params: { path: { id: process.id } },
    });
    expect(beat.response.status).toBe(404);
    expect(beat.error?.code).toBe('PROCESS_NOT_FOUND');

    // A key limited to another product sees 404 for the process, and an empty list.
    const product = await server.client.POST('/products', {
      headers: admin,
      body: { name: 'Other', code: 'OTHER_PROC' },
    });
    const limited = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'other product', scopes: ['machines:read', 'machines:write'], productId: product.data!.data.id },
    });
    const other = bearer(limited.data!.data.token);
    const got = await server.client.GET('/processes/{id}', { headers: other, params: { path: { id: process.id } } });
    expect(got.response.status).toBe(404);
    expect(await release(other, process.id)).toBe(404);
    const list = await server.client.GET('/processes', {
      headers: other,
      params: { query: { licenseId: mine.licenseId } },
    });
    expect(list.data!.data).toEqual([]);
    // A read-only key may not release.
    expect(await release(bearer(await seedApiKey(server, ['machines:read'])), process.id)).toBe(403);
    expect(await rows(mine.licenseId)).toBe(1);
  });

  it('refuses a suspended license, and bad input without a row', async () => {
    const { key, licenseId } = await license({});
    const machine = await activate(server, key);
    const bad = await server.client.POST('/machines/{id}/processes', {
      headers: licenseAuth(key),
      params: { path: { id: machine.id } },
      body: { pid: '' },
    });
    expect(bad.response.status).toBe(400);
    const unknown = await fetch(`${server.apiUrl}/machines/${machine.id}/processes`, {
      method: 'POST',
      headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ pid: '1', cores: 3 }),
    });
    expect(unknown.status).toBe(400);
    const process = await spawn(key, machine.id);
    const suspended = await fetch(`${server.apiUrl}/licenses/${licenseId}/actions/suspend`, {
      method: 'POST',
      headers: admin,
    });
    expect(suspended.status).toBe(200);
    const refused = await rawSpawn(key, machine.id);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as Problem).code).toBe('LICENSE_SUSPENDED');
    const beat = await server.client.POST('/processes/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id: process.id } },
    });
    expect(beat.response.status).toBe(403);
    expect(await rows(licenseId)).toBe(1);
  });

  it('writes concurrent process heartbeats as one statement, each with its own outcome', async () => {
    const { key, licenseId } = await license({ processHeartbeatDuration: 60 });
    const machine = await activate(server, key);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await spawn(key, machine.id)).id);
    // One lease expired before the batch: in the same statement it is refused, the others extended.
    await server.sql(`update processes set last_heartbeat_at = last_heartbeat_at - interval '1 hour' where id = $1`, [
      ids[0],
    ]);
    const { pool, statements } = await countingPool(server);
    const batcher = new HeartbeatBatcher(pool);
    const now = new Date(server.clock.now().getTime() + 30_000);
    const rows = await Promise.all(ids.map((id) => batcher.beatProcess({ id, licenseId, now })));
    expect(rows.map((row) => row?.beaten)).toEqual([false, ...Array(19).fill(true)]);
    // The first goes alone, at once; the other 19 wait for it and go together.
    expect(statements()).toBe(2);
    const other = await license({});
    expect(await batcher.beatProcess({ id: ids[1]!, licenseId: other.licenseId, now })).toBeUndefined();
    await batcher.flush();
  });
});
