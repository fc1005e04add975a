import { describe, expect, it } from 'vitest';
import { ScopeNotGrantable } from '../src/core/errors.ts';
import { bearer, seedApiKey, useApiKey, useTestServer } from './support/harness.ts';

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

describe('API keys', () => {
  it('creates a key and shows its token exactly once; listings never show tokens', async () => {
    server.clock.set('2026-01-12T16:20:00.000Z');
    const { response, data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'billing backend', scopes: ['licenses:read', 'licenses:write'] },
    });
    expect(response.status).toBe(201);
    const created = data!.data;
    expect(created).toEqual({
      id: expect.any(String),
      name: 'billing backend',
      scopes: ['licenses:read', 'licenses:write'],
      productId: null,
      tokenHint: `${created.token.slice(0, 10)}…${created.token.slice(-4)}`,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      createdAt: '2026-01-12T16:20:00.000Z',
      token: expect.stringMatching(/^lct_[0-9A-Za-z]{49}$/),
    });
    const listed = await server.client.GET('/api-keys', { headers: admin, params: { query: { limit: 100 } } });
    const entry = listed.data!.data.find((k) => k.id === created.id);
    expect(entry).toBeDefined();
    expect(entry).not.toHaveProperty('token');
    expect(JSON.stringify(listed.data)).not.toContain(created.token);
    const got = await server.client.GET('/api-keys/{id}', { headers: admin, params: { path: { id: created.id } } });
    expect(got.data!.data).not.toHaveProperty('token');
  });

  it('works at once for what its scopes allow, and nothing else', async () => {
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'reader', scopes: ['policies:read'] },
    });
    const reader = bearer(data!.data.token);
    expect((await server.client.GET('/policies', { headers: reader })).response.status).toBe(200);
    expect((await server.client.POST('/policies', { headers: reader, body: { name: 'x' } })).response.status).toBe(403);
    expect((await server.client.GET('/licenses', { headers: reader })).response.status).toBe(403);
  });

  it('records lastUsedAt, to the minute', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'used', scopes: ['machines:read'] },
    });
    const key = bearer(data!.data.token);
    const id = data!.data.id;
    const lastUsed = async () =>
      (await server.client.GET('/api-keys/{id}', { headers: admin, params: { path: { id } } })).data!.data.lastUsedAt;
    await server.client.GET('/machines', { headers: key });
    expect(await lastUsed()).toBe('2026-03-01T14:00:00.000Z');
    server.clock.set('2026-03-01T14:00:30.000Z');
    await server.client.GET('/machines', { headers: key });
    expect(await lastUsed()).toBe('2026-03-01T14:00:00.000Z');
    server.clock.set('2026-03-01T14:01:00.000Z');
    await server.client.GET('/machines', { headers: key });
    expect(await lastUsed()).toBe('2026-03-01T14:01:00.000Z');
  });

  it('revokes: 401 from the next request on; revoking twice changes nothing; lists leave it out unless asked', async () => {
    server.clock.set('2026-03-02T09:00:00.000Z');
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'doomed', scopes: ['machines:read'] },
    });
    const key = bearer(data!.data.token);
    const params = { path: { id: data!.data.id } };
    expect((await server.client.GET('/machines', { headers: key })).response.status).toBe(200);
    const revoked = await server.client.DELETE('/api-keys/{id}', { headers: admin, params });
    expect(revoked.data!.data.revokedAt).toBe('2026-03-02T09:00:00.000Z');
    const refused = await server.client.GET('/machines', { headers: key });
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    server.clock.advance(1000);
    const again = await server.client.DELETE('/api-keys/{id}', { headers: admin, params });
    expect(again.data!.data.revokedAt).toBe('2026-03-02T09:00:00.000Z');
    const live = await server.client.GET('/api-keys', { headers: admin, params: { query: { limit: 100 } } });
    expect(live.data!.data.map((k) => k.id)).not.toContain(data!.data.id);
    const all = await server.client.GET('/api-keys', {
      headers: admin,
      params: { query: { limit: 100, includeRevoked: true } },
    });
    expect(all.data!.data.map((k) => k.id)).toContain(data!.data.id);
  });

  it('expires: 401 from its expiry instant', async () => {
    server.clock.set('2026-03-03T00:00:00.000Z');
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'short-lived', scopes: ['machines:read'], expiresAt: '2026-03-04T00:00:00.000Z' },
    });
    const key = bearer(data!.data.token);
    server.clock.set('2026-03-03T23:59:59.999Z');
    expect((await server.client.GET('/machines', { headers: key })).response.status).toBe(200);
    server.clock.set('2026-03-04T00:00:00.000Z');
    expect((await server.client.GET('/machines', { headers: key })).response.status).toBe(401);
    // A key that would be dead on arrival is refused rather than issued.
    const stillborn = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'stillborn', scopes: ['machines:read'], expiresAt: '2026-03-04T00:00:00.000Z' },
    });
    expect(stillborn.response.status).toBe(422);
    expect(stillborn.error).toMatchObject({ code: 'EXPIRES_IN_PAST' });
  });

  it('never lets the last live admin key be revoked: 409 LAST_ADMIN_KEY', async () => {
    // This file's database holds exactly one admin key so far.
    const keys = await server.client.GET('/api-keys', { headers: admin, params: { query: { limit: 100 } } });
    const admins = keys.data!.data.filter((k) => k.scopes.includes('admin'));
    expect(admins).toHaveLength(1);
    const refused = await server.client.DELETE('/api-keys/{id}', {
      headers: admin,
      params: { path: { id: admins[0]!.id } },
    });
    expect(refused.response.status).toBe(409);
    expect(refused.error).toMatchObject({ code: 'LAST_ADMIN_KEY' });

    // With a second admin key, either may go, but two concurrent revocations leave one.
    const second = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'second admin', scopes: ['admin'] },
    });
    const results = await Promise.all([
      server.client.DELETE('/api-keys/{id}', { headers: admin, params: { path: { id: admins[0]!.id } } }),
      server.client.DELETE('/api-keys/{id}', {
        headers: bearer(second.data!.data.token),
        params: { path: { id: second.data!.data.id } },
      }),
    ]);
    expect(results.map((r) => r.response.status).sort()).toEqual([200, 409]);
    const [row] = await server.sql<{ n: number }>(
      "select count(*)::int as n from api_keys where 'admin' = any(scopes) and revoked_at is null",
    );
    expect(row!.n).toBe(1);
  });

  it('refuses fields a client may not set (mass assignment) and unknown scopes, and creates nothing', async () => {
    // The test before may have revoked the file's first admin key.
    const admin = bearer(await seedApiKey(server, ['admin']));
    const before = await server.sql('select count(*)::int as n from api_keys');
    const sneaky = {
      id: '01a21b05-0000-7000-8000-000000000000',
      revokedAt: null,
      lastUsedAt: '2020-01-01T00:00:00Z',
      tokenHash: 'AAAA',
      createdAt: '2000-01-01T00:00:00Z',
    };
    const response = await fetch(`${server.apiUrl}/api-keys`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky', scopes: ['machines:read'], ...sneaky }),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: { pointer: string }[] };
    expect(problem.errors.map((e) => e.pointer).sort()).toEqual(
      Object.keys(sneaky)
        .map((k) => `/${k}`)
        .sort(),
    );
    expect(await server.sql('select count(*)::int as n from api_keys')).toEqual(before);
    for (const body of [
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['root'] },
      { name: 'x' },
      { scopes: ['admin'] },
    ]) {
      const refused = await fetch(`${server.apiUrl}/api-keys`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(refused.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('a key can only grant scopes it holds itself', async () => {
    const services = server.services();
    await expect(
      services.apiKeys.create({ name: 'x', scopes: ['admin'] }, ['machines:read', 'machines:write']),
    ).rejects.toBeInstanceOf(ScopeNotGrantable);
    await expect(services.apiKeys.create({ name: 'x', scopes: ['machines:write'] }, ['machines:read'])).rejects.toThrow(
      /lacks machines:write/,
    );
    await expect(
      services.apiKeys.create({ name: 'x', scopes: ['machines:read'] }, ['machines:read']),
    ).resolves.toBeDefined();
    await expect(
      services.apiKeys.create({ name: 'x', scopes: ['policies:write', 'machines:read'] }, ['admin']),
    ).resolves.toBeDefined();
  });
});
