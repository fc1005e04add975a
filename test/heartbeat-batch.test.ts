import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { HeartbeatBatcher } from '../src/machines/heartbeat-batch.ts';
import { bearer, licenseAuth, machineBody, seedApiKey, useTestServer } from './support/harness.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
let admin: Record<string, string>;

beforeAll(async () => {
  admin = bearer(await seedApiKey(server, ['admin']));
});

const T0 = '2026-03-01T14:00:00.000Z';
const at = (seconds: number) => new Date(new Date(T0).getTime() + seconds * 1000).toISOString();

async function license(policy: Partial<CreatePolicy>) {
  const p = await server.client.POST('/policies', { headers: admin, body: { name: 'batch', requireHeartbeat: true, heartbeatDuration: 600, ...policy } });
  const l = await server.client.POST('/licenses', { headers: admin, body: { policyId: p.data!.data.id } });
  return l.data!.data.key;
}

async function machines(key: string, n: number): Promise<string[]> {
  const ids = [];
  for (let i = 0; i < n; i++) ids.push((await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() })).data!.data.id);
  return ids;
}

const beat = (key: string, id: string) =>
  fetch(`${server.apiUrl}/machines/${id}/heartbeat`, { method: 'POST', headers: licenseAuth(key) }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as { data?: { heartbeatStatus: string }; code?: string },
  }));

describe('heartbeats written together (group commit)', () => {
  it('gives every concurrent heartbeat its own outcome: ALIVE, RESURRECTED with its event, MACHINE_HEARTBEAT_DEAD, 404', async () => {
    server.clock.set(T0);
    // Alive machines beat at 300 s; revivable ones died at 600 s and may revive until 1 200 s;
    // the past-reviving ones' policy allows no revival at all.
    const aliveKey = await license({ heartbeatDuration: 3600 });
    const revivableKey = await license({ heartbeatDuration: 100, heartbeatResurrectionWindow: 3600 });
    const goneKey = await license({ heartbeatDuration: 100, heartbeatResurrectionWindow: 0, heartbeatCullStrategy: 'KEEP_DEAD' });
    const [alive, revivable, gone] = [await machines(aliveKey, 12), await machines(revivableKey, 12), await machines(goneKey, 12)];
    server.clock.set(at(300));

    const requests = [
      ...alive.map((id) => beat(aliveKey, id)),
      ...revivable.map((id) => beat(revivableKey, id)),
      ...gone.map((id) => beat(goneKey, id)),
      // Another license's machine, and one that does not exist.
      ...alive.slice(0, 6).map((id) => beat(revivableKey, id)),
      beat(aliveKey, '0190a0a0-0000-7000-8000-000000000000'),
    ];
    const results = await Promise.all(requests);
    const tally = (from: number, to: number) => results.slice(from, to).map((r) => r.body.data?.heartbeatStatus ?? `${r.status} ${r.body.code}`);
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
    const rows = await server.sql<{ id: string; last_heartbeat_at: Date }>('select id, last_heartbeat_at from machines where id = any($1::uuid[])', [
      [...alive, ...revivable, ...gone],
    ]);
    for (const row of rows) expect(row.last_heartbeat_at.toISOString()).toBe(gone.includes(row.id) ? T0 : at(300));
  });

  it('writes a machine beaten twice at once twice, one after the other: one resurrection, then alive', async () => {
    server.clock.set(T0);
    const key = await license({ heartbeatDuration: 100, heartbeatResurrectionWindow: 3600 });
    const [id] = await machines(key, 1);
    server.clock.set(at(300));
    const statuses = (await Promise.all([beat(key, id!), beat(key, id!), beat(key, id!)])).map((r) => r.body.data?.heartbeatStatus);
    expect(statuses.sort()).toEqual(['ALIVE', 'ALIVE', 'RESURRECTED']);
    const [row] = await server.sql<{ n: number }>(`select count(*)::int as n from events where type = 'machine.heartbeat.resurrected' and machine_id = $1`, [id]);
    expect(row!.n).toBe(1);
  });

  it('collects the beats that arrive while a statement is being written into one statement', async () => {
    server.clock.set(T0);
    const key = await license({});
    const ids = await machines(key, 40);
    const [{ license_id: licenseId }] = (await server.sql<{ license_id: string }>('select license_id from machines where id = $1', [ids[0]])) as [{ license_id: string }];
    let statements = 0;
    const batcher = new HeartbeatBatcher(() => {
      statements += 1;
      return server.orm.em.fork();
    });
    const rows = await Promise.all(ids.map((id) => batcher.beat({ id, licenseId, now: new Date(at(60)) })));
    expect(rows.map((row) => row?.beaten)).toEqual(Array(40).fill(true));
    // The first goes alone, at once; the other 39 wait for it and go together.
    expect(statements).toBe(2);
    const first = await batcher.beat({ id: ids[0]!, licenseId, now: new Date(at(61)) });
    expect(first).toMatchObject({ beaten: true });
    expect(statements).toBe(3);
  });
});
