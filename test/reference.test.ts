import { describe, expect, it } from 'vitest';
import { bearer, licenseAuth, seedApiKey, seedLicense, useTestServer } from './support/harness.ts';

/**
 * The published reference's examples, verbatim. Partners parse exactly these shapes, so each
 * live response must have the same fields with the same JSON types (values naturally differ).
 */
const referenceMachine = {
  id: 'f1a2b3c4-6e04-7081-c245-bd9e6f0a1b82',
  licenseId: 'c8f4e9a2-3b71-4d5e-9f12-8a6b3c7d4e5f',
  fingerprint: 'hw-a1b2c3d4e5f6',
  name: 'Dev Laptop',
  platform: 'macos',
  hostname: 'macbook-pro.local',
  cores: 8,
  lastHeartbeatAt: '2026-03-01T14:00:00.000Z',
  createdAt: '2026-01-15T10:30:00.000Z',
  updatedAt: '2026-03-01T14:00:00.000Z',
  deletedAt: null,
  metadata: {},
};
const reference = {
  activate: { data: referenceMachine },
  list: {
    data: [referenceMachine],
    pagination: { nextCursor: 'f1a2b3c4-6e04-7081-c245-bd9e6f0a1b82', hasMore: false },
  },
  get: { data: referenceMachine },
  deactivate: { data: { id: 'f1a2b3c4-6e04-7081-c245-bd9e6f0a1b82', deleted: true } },
  heartbeat: { data: { id: 'f1a2b3c4-6e04-7081-c245-bd9e6f0a1b82', lastHeartbeatAt: '2026-03-01T14:30:00.000Z' } },
};

/**
 * The JSON shape of a value: its type, and for objects and arrays the shapes inside. With a
 * reference, only the reference's fields count: new fields are additive and allowed.
 */
function shape(value: unknown, reference?: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.map((v, i) => shape(v, Array.isArray(reference) ? reference[i] : undefined));
  if (typeof value === 'object') {
    const entries = Object.entries(value as object).filter(
      ([k]) => reference === undefined || (typeof reference === 'object' && reference !== null && k in reference),
    );
    return Object.fromEntries(
      entries.map(([k, v]) => [k, shape(v, (reference as Record<string, unknown> | undefined)?.[k])]),
    );
  }
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)) return 'timestamp';
  return typeof value;
}

const server = useTestServer();

describe('every example of the reference reproduces with the same shape', () => {
  it('activate → get → list → heartbeat → deactivate', async () => {
    const { key, licenseId } = await seedLicense(server);
    const reader = await seedApiKey(server, ['machines:read']);

    server.clock.set('2026-03-01T14:00:00.000Z');
    const activated = await server.client.POST('/machines', {
      headers: licenseAuth(key),
      body: {
        fingerprint: 'hw-a1b2c3d4e5f6',
        name: 'Dev Laptop',
        platform: 'macos',
        hostname: 'macbook-pro.local',
        cores: 8,
      },
    });
    expect(activated.response.status).toBe(201);
    expect(shape(activated.data, reference.activate)).toEqual(shape(reference.activate));
    const id = activated.data!.data.id;

    const got = await server.client.GET('/machines/{id}', { headers: bearer(reader), params: { path: { id } } });
    expect(got.response.status).toBe(200);
    expect(shape(got.data, reference.get)).toEqual(shape(reference.get));

    const listed = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId, limit: 25 } },
    });
    expect(listed.response.status).toBe(200);
    expect(shape(listed.data, reference.list)).toEqual(shape(reference.list));
    expect(listed.data!.pagination).toEqual({ nextCursor: id, hasMore: false });

    server.clock.set('2026-03-01T14:30:00.000Z');
    const beat = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(beat.response.status).toBe(200);
    expect(shape(beat.data, reference.heartbeat)).toEqual(shape(reference.heartbeat));
    expect(beat.data!.data.lastHeartbeatAt).toBe('2026-03-01T14:30:00.000Z');

    const deleted = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(key),
      params: { path: { id } },
    });
    expect(deleted.response.status).toBe(200);
    expect(deleted.data).toEqual({ data: { id, deleted: true } });
    expect(shape(deleted.data, reference.deactivate)).toEqual(shape(reference.deactivate));
  });
});
