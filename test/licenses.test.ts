import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import {
  activate,
  activated,
  licenseAuth,
  machineBody,
  patch,
  read,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type License = components['schemas']['License'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
let policyId: string;

beforeAll(async () => {
  const { data } = await server.client.POST('/policies', {
    headers: admin,
    body: { name: 'Licenses', keyPrefix: 'LT', maxMachines: 5 },
  });
  policyId = data!.data.id;
});

async function createLicense(body: Partial<components['schemas']['CreateLicenseRequest']> = {}) {
  const { response, data, error } = await server.client.POST('/licenses', {
    headers: admin,
    body: { policyId, ...body },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

const get = (id: string) => read(server, admin, '/licenses/{id}', id);

describe('licenses', () => {
  it('creates a license and shows its key exactly once', async () => {
    server.clock.set('2026-01-15T10:00:00.000Z');
    const created = await createLicense({
      name: 'Acme',
      expiresAt: '2027-01-15T00:00:00.000Z',
      metadata: { customerId: 'cus_1' },
    });
    expect(created).toEqual({
      id: expect.any(String),
      policyId,
      productId: null,
      name: 'Acme',
      keyHint: `LT-…-${created.key.slice(-5)}`,
      status: 'ACTIVE',
      expiresAt: '2027-01-15T00:00:00.000Z',
      suspendedAt: null,
      machineCount: 0,
      coreCount: 0,
      metadata: { customerId: 'cus_1' },
      createdAt: '2026-01-15T10:00:00.000Z',
      updatedAt: '2026-01-15T10:00:00.000Z',
      key: expect.stringMatching(/^LT-(\w{5}-){3}\w{5}$/),
    });
    const read = await get(created.id);
    expect(read).not.toHaveProperty('key');
    const { key: _key, ...withoutKey } = created;
    expect(read).toEqual(withoutKey);
    // Only the keyed hash is stored.
    const [row] = await server.sql<{ key_hash: Buffer }>('select key_hash from licenses where id = $1', [created.id]);
    expect(row!.key_hash.toString('hex')).not.toContain(Buffer.from(created.key).toString('hex'));
  });

  it('refuses an unknown policy with 422 UNKNOWN_POLICY and bad input with 400', async () => {
    const unknown = await server.client.POST('/licenses', {
      headers: admin,
      body: { policyId: '01a21b05-0000-7000-8000-000000000000' },
    });
    expect(unknown.response.status).toBe(422);
    expect(unknown.error).toMatchObject({ code: 'UNKNOWN_POLICY' });
    for (const body of [{}, { policyId: 'nope' }, { policyId, expiresAt: 'tomorrow' }, { policyId, name: '' }]) {
      const response = await fetch(`${server.apiUrl}/licenses`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('refuses an expiry that has passed, on create and on update: 422 EXPIRES_IN_PAST, nothing written', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const before = await server.sql('select count(*)::int as n from licenses');
    for (const expiresAt of ['2026-04-30T00:00:00.000Z', '2026-05-01T00:00:00.000Z']) {
      const refused = await server.client.POST('/licenses', { headers: admin, body: { policyId, expiresAt } });
      expect(refused.response.status, expiresAt).toBe(422);
      expect(refused.error).toMatchObject({ code: 'EXPIRES_IN_PAST' });
    }
    expect(await server.sql('select count(*)::int as n from licenses')).toEqual(before);

    const license = await createLicense({ expiresAt: '2026-05-01T00:00:00.001Z' });
    const row = async () => (await server.sql('select * from licenses where id = $1', [license.id]))[0];
    const unchanged = await row();
    const patched = await patch(server, admin, '/licenses/{id}', license.id, {
      name: 'Late',
      expiresAt: '2026-04-01T00:00:00.000Z',
    });
    expect(patched.status).toBe(422);
    expect(await patched.json()).toMatchObject({ code: 'EXPIRES_IN_PAST' });
    expect(await row()).toEqual(unchanged);
    // Never expiring, or later, is always fine; so is a patch that leaves an expired license's expiry alone.
    expect(
      (await patch(server, admin, '/licenses/{id}', license.id, { expiresAt: '2026-07-01T00:00:00.000Z' })).status,
    ).toBe(200);
    server.clock.set('2026-08-01T00:00:00.000Z');
    expect((await patch(server, admin, '/licenses/{id}', license.id, { name: 'Renamed while expired' })).status).toBe(
      200,
    );
    expect((await patch(server, admin, '/licenses/{id}', license.id, { expiresAt: null })).status).toBe(200);
  });

  it('computes status and expiry at read time', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const license = await createLicense({ expiresAt: '2026-06-01T00:00:00.000Z' });
    expect((await get(license.id)).status).toBe('ACTIVE');
    server.clock.set('2026-05-31T23:59:59.999Z');
    expect((await get(license.id)).status).toBe('ACTIVE');
    server.clock.set('2026-06-01T00:00:00.000Z');
    expect((await get(license.id)).status).toBe('EXPIRED');
    const activation = await server.client.POST('/machines', {
      headers: licenseAuth(license.key),
      body: machineBody(),
    });
    expect(activation.response.status).toBe(403);
  });

  it('counts active machines', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const license = await createLicense();
    const ids = await activated(server, license.key, 3);
    await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(license.key),
      params: { path: { id: ids[0]! } },
    });
    expect((await get(license.id)).machineCount).toBe(2);
  });

  it('suspends and reinstates, idempotently', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const license = await createLicense();
    const params = { path: { id: license.id } };
    server.clock.set('2026-05-02T00:00:00.000Z');
    const suspended = await server.client.POST('/licenses/{id}/actions/suspend', { headers: admin, params });
    expect(suspended.data!.data).toMatchObject({ status: 'SUSPENDED', suspendedAt: '2026-05-02T00:00:00.000Z' });
    server.clock.set('2026-05-03T00:00:00.000Z');
    const again = await server.client.POST('/licenses/{id}/actions/suspend', { headers: admin, params });
    expect(again.data!.data).toMatchObject({
      status: 'SUSPENDED',
      suspendedAt: '2026-05-02T00:00:00.000Z',
      updatedAt: '2026-05-02T00:00:00.000Z',
    });
    expect(
      (await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() })).error,
    ).toMatchObject({ code: 'LICENSE_SUSPENDED' });

    const reinstated = await server.client.POST('/licenses/{id}/actions/reinstate', { headers: admin, params });
    expect(reinstated.data!.data).toMatchObject({ status: 'ACTIVE', suspendedAt: null });
    expect(
      (await server.client.POST('/licenses/{id}/actions/reinstate', { headers: admin, params })).response.status,
    ).toBe(200);
    await activate(server, license.key);
  });

  it('lists with policy and status filters, in keyset pages', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const { data: other } = await server.client.POST('/policies', { headers: admin, body: { name: 'Filter' } });
    const make = async (body: Partial<components['schemas']['CreateLicenseRequest']>) =>
      (await server.client.POST('/licenses', { headers: admin, body: { policyId: other!.data.id, ...body } })).data!
        .data;
    const active = await make({});
    const expired = await make({ expiresAt: '2026-05-15T00:00:00.000Z' });
    const suspended = await make({ expiresAt: '2026-05-15T00:00:00.000Z' });
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: suspended.id } },
    });
    server.clock.set('2026-06-01T00:00:00.000Z');

    const list = async (status?: 'ACTIVE' | 'SUSPENDED' | 'EXPIRED') =>
      (
        await server.client.GET('/licenses', {
          headers: admin,
          params: { query: { policyId: other!.data.id, status } },
        })
      ).data!.data.map((l: License) => l.id);
    expect(await list()).toEqual([active.id, expired.id, suspended.id]);
    expect(await list('ACTIVE')).toEqual([active.id]);
    expect(await list('EXPIRED')).toEqual([expired.id]);
    expect(await list('SUSPENDED')).toEqual([suspended.id]);

    const first = await server.client.GET('/licenses', {
      headers: admin,
      params: { query: { policyId: other!.data.id, limit: 2 } },
    });
    expect(first.data!.pagination).toEqual({ nextCursor: expired.id, hasMore: true });
    const second = await server.client.GET('/licenses', {
      headers: admin,
      params: { query: { policyId: other!.data.id, limit: 2, cursor: expired.id } },
    });
    expect(second.data!.data.map((l) => l.id)).toEqual([suspended.id]);
    expect(second.data!.pagination.hasMore).toBe(false);

    const bad = await fetch(`${server.apiUrl}/licenses?status=active`, { headers: admin });
    expect(bad.status).toBe(400);
  });

  it('updates name, expiry, metadata and policy by merge patch', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const license = await createLicense({
      name: 'Old',
      expiresAt: '2026-06-01T00:00:00.000Z',
      metadata: { a: 1, b: 2 },
    });
    const { data: target } = await server.client.POST('/policies', {
      headers: admin,
      body: { name: 'Target', maxMachines: 1 },
    });
    const response = await patch(server, admin, '/licenses/{id}', license.id, {
      name: null,
      expiresAt: null,
      policyId: target!.data.id,
      metadata: { b: null, c: 3, d: '\u0000' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: License }).data).toMatchObject({
      id: license.id,
      name: null,
      expiresAt: null,
      policyId: target!.data.id,
      metadata: { a: 1, c: 3, d: '\u0000' },
      status: 'ACTIVE',
    });
    // The key still works: the patch could not touch it.
    await activate(server, license.key);
    // The new policy's limit applies to later activations.
    expect(
      (await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() })).response
        .status,
    ).toBe(422);
    const unknown = await patch(server, admin, '/licenses/{id}', license.id, {
      policyId: '01a21b05-0000-7000-8000-000000000000',
    });
    expect(unknown.status).toBe(422);
  });

  it('refuses fields a patch may not set (status, key, id) and changes nothing', async () => {
    const license = await createLicense({ name: 'Kept' });
    const before = await server.sql('select * from licenses where id = $1', [license.id]);
    const response = await patch(server, admin, '/licenses/{id}', license.id, {
      name: 'Changed',
      status: 'SUSPENDED',
      key: 'LT-AAAAA-AAAAA-AAAAA-AAAAA',
      id: '01a21b05-0000-7000-8000-000000000000',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: { pointer: string }[] }).errors.map((e) => e.pointer).sort()).toEqual([
      '/id',
      '/key',
      '/status',
    ]);
    expect(await server.sql('select * from licenses where id = $1', [license.id])).toEqual(before);
  });

  it('deletes a license: its machines are deactivated in the same transaction, the key stops working, history stays', async () => {
    server.clock.set('2026-05-01T00:00:00.000Z');
    const license = await createLicense();
    const machineIds = await activated(server, license.key, 3);
    server.clock.set('2026-05-02T00:00:00.000Z');
    const deleted = await server.client.DELETE('/licenses/{id}', {
      headers: admin,
      params: { path: { id: license.id } },
    });
    expect(deleted.response.status).toBe(200);
    expect(deleted.data).toEqual({ data: { id: license.id, deleted: true } });

    const rows = await server.sql<{ deleted_at: Date; deactivation_reason: string }>(
      'select deleted_at, deactivation_reason from machines where license_id = $1',
      [license.id],
    );
    expect(rows).toHaveLength(3);
    for (const row of rows)
      expect(row).toEqual({ deleted_at: new Date('2026-05-02T00:00:00.000Z'), deactivation_reason: 'LICENSE_DELETED' });
    const events = await server.sql(
      `select type, machine_id, data from events where license_id = $1 and machine_id is not null and type <> 'machine.activated' order by id`,
      [license.id],
    );
    expect(events).toHaveLength(3);
    for (const event of events)
      expect(event).toMatchObject({ type: 'machine.deactivated', data: { reason: 'LICENSE_DELETED' } });
    expect(events.map((e) => e.machine_id).sort()).toEqual([...machineIds].sort());

    expect(
      (await server.client.GET('/licenses/{id}', { headers: admin, params: { path: { id: license.id } } })).response
        .status,
    ).toBe(404);
    const refused = await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() });
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const history = await server.client.GET('/machines/{id}', {
      headers: admin,
      params: { path: { id: machineIds[0]! } },
    });
    expect(history.data!.data).toMatchObject({ licenseId: license.id, deletedAt: '2026-05-02T00:00:00.000Z' });
    expect(
      (await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: license.id } } })).response
        .status,
    ).toBe(404);
  });

  it('a license deleted while its software activates ends with no active machine', async () => {
    const license = await createLicense();
    const [deleted] = await Promise.all([
      server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: license.id } } }),
      ...Array.from({ length: 10 }, () =>
        server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() }),
      ),
    ]);
    expect(deleted.response.status).toBe(200);
    expect(
      await server.sql('select id from machines where license_id = $1 and deleted_at is null', [license.id]),
    ).toEqual([]);
  });
});
