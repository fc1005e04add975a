import { describe, expect, it } from 'vitest';
import { activate, bearer, licenseAuth, read, seedApiKey, seedLicense, useTestServer } from './support/harness.ts';

const server = useTestServer();

async function row(id: string) {
  const [found] = await server.sql<{ deleted_at: Date | null; last_heartbeat_at: Date; updated_at: Date }>(
    'select deleted_at, last_heartbeat_at, updated_at from machines where id = $1',
    [id],
  );
  return found!;
}

describe('DELETE /machines/{id} — deactivate', () => {
  it('lets the owning license deactivate its machine: soft delete, { data: { id, deleted: true } }', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    server.clock.advance(60_000);
    const { response, data } = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(200);
    expect(data).toEqual({ data: { id, deleted: true } });
    const after = await row(id);
    expect(after.deleted_at?.toISOString()).toBe(server.clock.now().toISOString());
    expect(after.updated_at.toISOString()).toBe(server.clock.now().toISOString());
    const events = await server.sql(
      `select type, data::jsonb - 'machine' as data from events where machine_id = $1 and type <> 'machine.activated'`,
      [id],
    );
    expect(events).toEqual([{ type: 'machine.deactivated', data: { reason: 'MANUAL' } }]);
  });

  it("answers 404 for another license's machine, never 403, and leaves it active", async () => {
    const owner = await seedLicense(server);
    const stranger = await seedLicense(server);
    const { id } = await activate(server, owner.key);
    const { response, error } = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(stranger.key),
      params: { path: { id } },
    });
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'MACHINE_NOT_FOUND' });
    expect((await row(id)).deleted_at).toBeNull();
  });

  it('answers 404 for a machine already deactivated, and keeps the first deactivation time', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(key), params: { path: { id } } });
    const first = (await row(id)).deleted_at;
    server.clock.advance(1000);
    const { response } = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(404);
    expect((await row(id)).deleted_at).toEqual(first);
  });

  it('lets an API key with machines:write deactivate any machine', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    const writer = await seedApiKey(server, ['machines:write']);
    const { response, data } = await server.client.DELETE('/machines/{id}', {
      headers: bearer(writer),
      params: { path: { id } },
    });
    expect(response.status).toBe(200);
    expect(data?.data).toEqual({ id, deleted: true });
  });

  it('refuses an API key with only machines:read: 403 INSUFFICIENT_SCOPE, machine untouched', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    const reader = await seedApiKey(server, ['machines:read']);
    const { response, error } = await server.client.DELETE('/machines/{id}', {
      headers: bearer(reader),
      params: { path: { id } },
    });
    expect(response.status).toBe(403);
    expect(error).toMatchObject({ code: 'INSUFFICIENT_SCOPE', status: 403 });
    expect((await row(id)).deleted_at).toBeNull();
  });

  it('lets a suspended license still deactivate (freeing a seat is always allowed)', async () => {
    const { key, licenseId } = await seedLicense(server);
    const { id } = await activate(server, key);
    await server.sql('update licenses set suspended_at = now() where id = $1', [licenseId]);
    const { response } = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(200);
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    const { key } = await seedLicense(server);
    const unknown = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id: '01a21b05-0000-7000-8000-000000000000' } },
    });
    expect(unknown.response.status).toBe(404);
    const malformed = await fetch(`${server.apiUrl}/machines/123`, { method: 'DELETE', headers: licenseAuth(key) });
    expect(malformed.status).toBe(400);
  });
});

describe('POST /machines/{id}/heartbeat', () => {
  it('records the heartbeat at the current time and answers { data: { id, lastHeartbeatAt, … } }', async () => {
    const { key } = await seedLicense(server);
    server.clock.set('2026-03-01T14:00:00.000Z');
    const { id } = await activate(server, key);
    server.clock.set('2026-03-01T14:30:00.000Z');
    const { response, data } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(200);
    expect(data).toEqual({
      data: { id, lastHeartbeatAt: '2026-03-01T14:30:00.000Z', heartbeatStatus: 'NOT_REQUIRED', nextHeartbeatAt: null },
    });
    const after = await row(id);
    expect(after.last_heartbeat_at.toISOString()).toBe('2026-03-01T14:30:00.000Z');
    const reader = await seedApiKey(server, ['machines:read']);
    expect(await read(server, bearer(reader), '/machines/{id}', id)).toMatchObject({
      lastHeartbeatAt: '2026-03-01T14:30:00.000Z',
      createdAt: '2026-03-01T14:00:00.000Z',
    });
  });

  it('ignores a body sent along', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    const response = await fetch(`${server.apiUrl}/machines/${id}/heartbeat`, {
      method: 'POST',
      headers: { ...licenseAuth(key), 'Content-Type': 'text/plain' },
      body: 'anything',
    });
    expect(response.status).toBe(200);
  });

  it("answers 404 for another license's machine and leaves it untouched", async () => {
    const owner = await seedLicense(server);
    const stranger = await seedLicense(server);
    const { id } = await activate(server, owner.key);
    const before = await row(id);
    server.clock.advance(5000);
    const { response, error } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(stranger.key),
      params: { path: { id } },
    });
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'MACHINE_NOT_FOUND' });
    expect(await row(id)).toEqual(before);
  });

  it('answers 404 for a deactivated machine', async () => {
    const { key } = await seedLicense(server);
    const { id } = await activate(server, key);
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(key), params: { path: { id } } });
    const { response } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(404);
  });

  it('refuses a suspended license: 403 LICENSE_SUSPENDED, heartbeat not recorded', async () => {
    const { key, licenseId } = await seedLicense(server);
    const { id } = await activate(server, key);
    const before = await row(id);
    await server.sql('update licenses set suspended_at = now() where id = $1', [licenseId]);
    server.clock.advance(5000);
    const { response, error } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(403);
    expect(error).toMatchObject({ code: 'LICENSE_SUSPENDED' });
    expect(await row(id)).toEqual(before);
  });

  it('refuses an expired license: 403 LICENSE_EXPIRED', async () => {
    const expiresAt = new Date('2026-09-01T00:00:00.000Z');
    server.clock.set('2026-08-01T00:00:00.000Z');
    const { key } = await seedLicense(server, { expiresAt });
    const { id } = await activate(server, key);
    server.clock.set(expiresAt);
    const { response, error } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(response.status).toBe(403);
    expect(error).toMatchObject({ code: 'LICENSE_EXPIRED' });
  });

  it("keeps another license's machine a 404 even for a suspended license", async () => {
    const owner = await seedLicense(server);
    const stranger = await seedLicense(server);
    const { id } = await activate(server, owner.key);
    await server.sql('update licenses set suspended_at = now() where id = $1', [stranger.licenseId]);
    const { response } = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(stranger.key),
      params: { path: { id } },
    });
    expect(response.status).toBe(404);
  });
});
