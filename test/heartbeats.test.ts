import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { bearer, licenseAuth, machineBody, seedApiKey, useTestServer } from './support/harness.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
let admin: Record<string, string>;

beforeAll(async () => {
  admin = bearer(await seedApiKey(server, ['admin']));
});

const T0 = '2026-03-01T14:00:00.000Z';
const at = (seconds: number, ms = 0) => new Date(new Date(T0).getTime() + seconds * 1000 + ms).toISOString();

async function setup(policy: Partial<CreatePolicy>) {
  server.clock.set(T0);
  const p = await server.client.POST('/policies', { headers: admin, body: { name: 'heartbeats', requireHeartbeat: true, heartbeatDuration: 600, ...policy } });
  const l = await server.client.POST('/licenses', { headers: admin, body: { policyId: p.data!.data.id } });
  const key = l.data!.data.key;
  const m = await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
  return { policyId: p.data!.data.id, licenseId: l.data!.data.id, key, machine: m.data!.data };
}

const read = async (id: string) => (await server.client.GET('/machines/{id}', { headers: admin, params: { path: { id } } })).data!.data;
const beat = (key: string, id: string) => server.client.POST('/machines/{id}/heartbeat', { headers: licenseAuth(key), params: { path: { id } } });

describe('heartbeat status, exact at read time', () => {
  it('is NOT_REQUIRED, with no next heartbeat, when the policy does not require heartbeats', async () => {
    const { machine } = await setup({ requireHeartbeat: false });
    expect(machine).toMatchObject({ heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null });
    server.clock.set('2030-01-01T00:00:00.000Z');
    expect(await read(machine.id)).toMatchObject({ heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null });
  });

  it('is ALIVE until the deadline and DEAD from its millisecond on, without any worker run', async () => {
    const { machine } = await setup({});
    expect(machine).toMatchObject({ heartbeatStatus: 'ALIVE', nextHeartbeatAt: at(600) });
    server.clock.set(at(600, -1));
    expect((await read(machine.id)).heartbeatStatus).toBe('ALIVE');
    server.clock.set(at(600));
    expect(await read(machine.id)).toMatchObject({ heartbeatStatus: 'DEAD', nextHeartbeatAt: at(600), deletedAt: null });
  });

  it('follows a policy change for existing machines at once', async () => {
    const { machine, policyId } = await setup({ heartbeatDuration: 600 });
    server.clock.set(at(300));
    expect((await read(machine.id)).heartbeatStatus).toBe('ALIVE');
    await fetch(`${server.apiUrl}/policies/${policyId}`, {
      method: 'PATCH',
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ heartbeatDuration: 120 }),
    });
    expect(await read(machine.id)).toMatchObject({ heartbeatStatus: 'DEAD', nextHeartbeatAt: at(120) });
    await fetch(`${server.apiUrl}/policies/${policyId}`, {
      method: 'PATCH',
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ requireHeartbeat: false }),
    });
    expect((await read(machine.id)).heartbeatStatus).toBe('NOT_REQUIRED');
  });

  it('filters lists by heartbeat status, so KEEP_DEAD machines can be found and deactivated', async () => {
    const { key, licenseId, machine: dead } = await setup({ heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(300));
    const alive = (await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() })).data!.data;
    server.clock.set(at(700));
    const list = async (heartbeatStatus: 'ALIVE' | 'DEAD' | 'NOT_REQUIRED') =>
      (await server.client.GET('/machines', { headers: admin, params: { query: { licenseId, heartbeatStatus } } })).data!.data.map((m) => m.id);
    expect(await list('DEAD')).toEqual([dead.id]);
    expect(await list('ALIVE')).toEqual([alive.id]);
    expect(await list('NOT_REQUIRED')).toEqual([]);

    const writer = bearer(await seedApiKey(server, ['machines:write']));
    const { response } = await server.client.DELETE('/machines/{id}', { headers: writer, params: { path: { id: dead.id } } });
    expect(response.status).toBe(200);
    expect(await read(dead.id)).toMatchObject({ deactivationReason: 'MANUAL', deletedAt: at(700) });
    expect(await list('DEAD')).toEqual([]);
    const bad = await fetch(`${server.apiUrl}/machines?heartbeatStatus=dead`, { headers: admin });
    expect(bad.status).toBe(400);
  });
});

describe('POST /machines/{id}/heartbeat', () => {
  it('keeps an alive machine alive: ALIVE, with the next deadline', async () => {
    const { key, machine } = await setup({});
    server.clock.set(at(599));
    const { response, data } = await beat(key, machine.id);
    expect(response.status).toBe(200);
    expect(data!.data).toEqual({ id: machine.id, lastHeartbeatAt: at(599), heartbeatStatus: 'ALIVE', nextHeartbeatAt: at(1199) });
    expect(await read(machine.id)).toMatchObject({ heartbeatStatus: 'ALIVE', lastHeartbeatAt: at(599) });
  });

  it('revives a dead machine inside its resurrection window: RESURRECTED, and an event', async () => {
    const { key, machine } = await setup({ heartbeatResurrectionWindow: 3600, heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(600 + 3600, -1));
    expect((await read(machine.id)).heartbeatStatus).toBe('DEAD');
    const { response, data } = await beat(key, machine.id);
    expect(response.status).toBe(200);
    expect(data!.data).toMatchObject({ heartbeatStatus: 'RESURRECTED', lastHeartbeatAt: at(4200, -1) });
    expect((await read(machine.id)).heartbeatStatus).toBe('ALIVE');
    const events = await server.sql(`select type, data::jsonb - 'machine' as data from events where machine_id = $1 and type <> 'machine.activated'`, [machine.id]);
    expect(events).toEqual([{ type: 'machine.heartbeat.resurrected', data: { deadSince: at(600) } }]);
  });

  it('refuses a dead machine past its resurrection window: 422 MACHINE_HEARTBEAT_DEAD, nothing recorded', async () => {
    const { key, machine } = await setup({ heartbeatResurrectionWindow: 3600, heartbeatCullStrategy: 'KEEP_DEAD' });
    server.clock.set(at(600 + 3600));
    const { response, error } = await beat(key, machine.id);
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'MACHINE_HEARTBEAT_DEAD', status: 422 });
    expect(await read(machine.id)).toMatchObject({ heartbeatStatus: 'DEAD', lastHeartbeatAt: T0 });
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
    expect((await beat(key, machine.id)).data!.data).toMatchObject({ heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null });
  });

  it('answers 404 for a deactivated machine, dead or not', async () => {
    const { key, machine } = await setup({});
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(key), params: { path: { id: machine.id } } });
    expect((await beat(key, machine.id)).response.status).toBe(404);
  });
});
