import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import {
  activate,
  activated,
  licenseAuth,
  machineBody,
  type Problem,
  patch,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

const server = useTestServer();
const admin = useApiKey(server, ['policies:read', 'policies:write', 'licenses:write', 'licenses:read']);

async function createPolicy(body: components['schemas']['CreatePolicyRequest']) {
  const { response, data, error } = await server.client.POST('/policies', { headers: admin, body });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

describe('policies', () => {
  it('creates a policy with defaults for everything but the name', async () => {
    server.clock.set('2026-01-10T09:00:00.000Z');
    const policy = await createPolicy({ name: 'Basic' });
    expect(policy).toEqual({
      id: expect.any(String),
      name: 'Basic',
      maxMachines: null,
      keyPrefix: 'LIC',
      requireHeartbeat: false,
      heartbeatDuration: 600,
      heartbeatCullStrategy: 'DEACTIVATE_DEAD',
      heartbeatResurrectionWindow: 0,
      maxCores: null,
      overageStrategy: 'NO_OVERAGE',
      machineUniquenessStrategy: 'UNIQUE_PER_LICENSE',
      productId: null,
      // Expiry, duration and renewal (issue 18).
      duration: null,
      expirationBasis: 'FROM_CREATION',
      expirationStrategy: 'RESTRICT_ACCESS',
      renewalBasis: 'FROM_NOW_IF_EXPIRED',
      // Entitlements and machine matching (issue 18).
      machineMatchingStrategy: 'MATCH_ANY',
      // Machine and license files (issue 19).
      checkOutTtl: 2592000,
      allowNonExpiringFiles: false,
      // Processes (issue 20).
      maxProcesses: null,
      processLeasingStrategy: 'PER_MACHINE',
      processHeartbeatDuration: 600,
      metadata: {},
      createdAt: '2026-01-10T09:00:00.000Z',
      updatedAt: '2026-01-10T09:00:00.000Z',
    });
  });

  it('creates a policy with every field', async () => {
    const body = {
      name: 'Desktop Pro',
      maxMachines: 3,
      keyPrefix: 'DSK',
      requireHeartbeat: true,
      heartbeatDuration: 3600,
      heartbeatCullStrategy: 'KEEP_DEAD' as const,
      heartbeatResurrectionWindow: 86400,
      // U+0000 is valid JSON; PostgreSQL's jsonb refuses it, so metadata is stored as json.
      metadata: { tier: 'pro', note: 'a\u0000b' },
    };
    expect(await createPolicy(body)).toMatchObject(body);
  });

  it.each([
    ['no name', {}, '/name'],
    ['empty name', { name: '' }, '/name'],
    ['maxMachines 0', { name: 'x', maxMachines: 0 }, '/maxMachines'],
    ['lower-case key prefix', { name: 'x', keyPrefix: 'dsk' }, '/keyPrefix'],
    ['key prefix of 13', { name: 'x', keyPrefix: 'A'.repeat(13) }, '/keyPrefix'],
    ['heartbeatDuration 59', { name: 'x', heartbeatDuration: 59 }, '/heartbeatDuration'],
    ['heartbeatDuration over 30 days', { name: 'x', heartbeatDuration: 2592001 }, '/heartbeatDuration'],
    ['negative resurrection window', { name: 'x', heartbeatResurrectionWindow: -1 }, '/heartbeatResurrectionWindow'],
    ['unknown cull strategy', { name: 'x', heartbeatCullStrategy: 'DELETE' }, '/heartbeatCullStrategy'],
    ['requireHeartbeat a string', { name: 'x', requireHeartbeat: 'yes' }, '/requireHeartbeat'],
    ['metadata over 16 KiB', { name: 'x', metadata: { a: 'x'.repeat(16400) } }, '/metadata'],
    ['maxProcesses 0', { name: 'x', maxProcesses: 0 }, '/maxProcesses'],
    ['unknown process leasing strategy', { name: 'x', processLeasingStrategy: 'PER_USER' }, '/processLeasingStrategy'],
    ['processHeartbeatDuration 59', { name: 'x', processHeartbeatDuration: 59 }, '/processHeartbeatDuration'],
  ])('refuses %s: 400 at %s, nothing written', async (_name, body, pointer) => {
    const before = await server.sql('select count(*)::int as n from policies');
    const response = await fetch(`${server.apiUrl}/policies`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
    expect(await server.sql('select count(*)::int as n from policies')).toEqual(before);
  });

  it('gets and lists policies, oldest first, with keyset pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createPolicy({ name: `page ${i}` })).id);
    const got = await server.client.GET('/policies/{id}', { headers: admin, params: { path: { id: ids[2]! } } });
    expect(got.data!.data.name).toBe('page 2');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const { data } = await server.client.GET('/policies', {
        headers: admin,
        params: { query: { limit: 2, cursor } },
      });
      seen.push(...data!.data.map((p) => p.id));
      cursor = data!.pagination.hasMore ? data!.pagination.nextCursor! : undefined;
    } while (cursor);
    expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
    expect([...seen].sort()).toEqual(seen);
  });

  it('updates with a JSON merge patch: absent kept, null clears, metadata merged key by key', async () => {
    const policy = await createPolicy({ name: 'Patchable', maxMachines: 2, metadata: { a: 1, b: { c: 2, d: 3 } } });
    server.clock.advance(60_000);
    const response = await patch(server, admin, '/policies/{id}', policy.id, {
      maxMachines: null,
      heartbeatDuration: 120,
      metadata: { a: null, b: { d: 4 }, e: 'x' },
    });
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: components['schemas']['Policy'] };
    expect(data).toMatchObject({
      name: 'Patchable',
      maxMachines: null,
      heartbeatDuration: 120,
      metadata: { b: { c: 2, d: 4 }, e: 'x' },
      createdAt: policy.createdAt,
      updatedAt: server.clock.now().toISOString(),
    });
  });

  it('refuses read-only fields and bad values in a patch, and changes nothing', async () => {
    const policy = await createPolicy({ name: 'Guarded' });
    const refused = await patch(server, admin, '/policies/{id}', policy.id, {
      id: '01a21b05-0000-7000-8000-000000000000',
      createdAt: '2000-01-01T00:00:00Z',
      name: 'Renamed',
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: { pointer: string }[] }).errors.map((e) => e.pointer).sort()).toEqual([
      '/createdAt',
      '/id',
    ]);
    const unchanged = await server.client.GET('/policies/{id}', {
      headers: admin,
      params: { path: { id: policy.id } },
    });
    expect(unchanged.data!.data).toEqual(policy);
    for (const bad of [{ name: null }, { maxMachines: 0 }, { heartbeatCullStrategy: 'NOPE' }]) {
      expect((await patch(server, admin, '/policies/{id}', policy.id, bad)).status, JSON.stringify(bad)).toBe(400);
    }
  });

  it('takes patches only as application/merge-patch+json', async () => {
    const policy = await createPolicy({ name: 'Typed' });
    const response = await fetch(`${server.apiUrl}/policies/${policy.id}`, {
      method: 'PATCH',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    expect(response.status).toBe(415);
  });

  it('a new key prefix applies to licenses issued afterwards', async () => {
    const policy = await createPolicy({ name: 'Prefix', keyPrefix: 'OLD' });
    const first = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    await patch(server, admin, '/policies/{id}', policy.id, { keyPrefix: 'NEW' });
    const second = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    expect(first.data!.data.key).toMatch(/^OLD-/);
    expect(second.data!.data.key).toMatch(/^NEW-/);
    await activate(server, first.data!.data.key);
  });

  it('lowering maxMachines never deactivates machines; it only blocks new activations', async () => {
    const policy = await createPolicy({ name: 'Shrinking', maxMachines: 3 });
    const { data } = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    const key = data!.data.key;
    await activated(server, key, 3);
    expect((await patch(server, admin, '/policies/{id}', policy.id, { maxMachines: 1 })).status).toBe(200);
    const license = await server.client.GET('/licenses/{id}', {
      headers: admin,
      params: { path: { id: data!.data.id } },
    });
    expect(license.data!.data.machineCount).toBe(3);
    const blocked = await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
    expect(blocked.response.status).toBe(422);
    expect(blocked.error).toMatchObject({ code: 'MACHINE_LIMIT_EXCEEDED' });
  });

  it('refuses to delete a policy that still has licenses: 409 POLICY_IN_USE', async () => {
    const policy = await createPolicy({ name: 'Used' });
    const { data } = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    const refused = await server.client.DELETE('/policies/{id}', {
      headers: admin,
      params: { path: { id: policy.id } },
    });
    expect(refused.response.status).toBe(409);
    expect(refused.error).toMatchObject({
      code: 'POLICY_IN_USE',
      detail: 'The policy still has 1 license; delete or move them first.',
    });
    // Once its only license is deleted, the policy can go.
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: data!.data.id } } });
    const deleted = await server.client.DELETE('/policies/{id}', {
      headers: admin,
      params: { path: { id: policy.id } },
    });
    expect(deleted.response.status).toBe(200);
    expect(deleted.data).toEqual({ data: { id: policy.id, deleted: true } });
  });

  it('a deleted policy is gone: 404 to reads, updates and deletes, left out of lists, refused for new licenses', async () => {
    const policy = await createPolicy({ name: 'Doomed' });
    await server.client.DELETE('/policies/{id}', { headers: admin, params: { path: { id: policy.id } } });
    const params = { path: { id: policy.id } };
    expect((await server.client.GET('/policies/{id}', { headers: admin, params })).response.status).toBe(404);
    expect((await patch(server, admin, '/policies/{id}', policy.id, { name: 'x' })).status).toBe(404);
    expect((await server.client.DELETE('/policies/{id}', { headers: admin, params })).response.status).toBe(404);
    const { data } = await server.client.GET('/policies', { headers: admin, params: { query: { limit: 100 } } });
    expect(data!.data.map((p) => p.id)).not.toContain(policy.id);
    const license = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    expect(license.response.status).toBe(422);
    expect(license.error).toMatchObject({ code: 'UNKNOWN_POLICY' });
  });

  it('a concurrent license creation and policy deletion never leave a live license under a deleted policy', async () => {
    for (let round = 0; round < 5; round++) {
      const policy = await createPolicy({ name: `race ${round}` });
      const [created, deleted] = await Promise.all([
        server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } }),
        server.client.DELETE('/policies/{id}', { headers: admin, params: { path: { id: policy.id } } }),
      ]);
      expect([created.response.status, deleted.response.status].sort()).toSatisfy(
        (pair: number[]) => (pair[0] === 201 && pair[1] === 409) || (pair[0] === 200 && pair[1] === 422),
      );
      const orphans = await server.sql(
        'select 1 from licenses l join policies p on p.id = l.policy_id where p.id = $1 and l.deleted_at is null and p.deleted_at is not null',
        [policy.id],
      );
      expect(orphans).toEqual([]);
    }
  });
});
