import { beforeAll, describe, expect, it } from 'vitest';
import {
  activate,
  activated,
  bearer,
  licenseAuth,
  type Problem,
  type SeededLicense,
  seedApiKey,
  seedLicense,
  useTestServer,
} from './support/harness.ts';

const server = useTestServer();

describe('GET /machines and GET /machines/{id}', () => {
  let reader: string;
  let a: SeededLicense;
  let b: SeededLicense;
  const idsOfA: string[] = [];
  const idsOfB: string[] = [];

  beforeAll(async () => {
    reader = await seedApiKey(server, ['machines:read']);
    a = await seedLicense(server);
    b = await seedLicense(server);
    for (let i = 0; i < 7; i++) idsOfA.push((await activate(server, a.key, { name: `a${i}` })).id);
    for (let i = 0; i < 3; i++) idsOfB.push((await activate(server, b.key, { name: `b${i}` })).id);
    // One deactivated machine of license A.
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(a.key), params: { path: { id: idsOfA[3]! } } });
  });

  async function walk(query: { licenseId?: string; limit?: number; includeDeactivated?: boolean }) {
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 50; guard++) {
      const { response, data } = await server.client.GET('/machines', {
        headers: bearer(reader),
        params: { query: { ...query, cursor } },
      });
      expect(response.status).toBe(200);
      seen.push(...data!.data.map((m) => m.id));
      pages.push(data!.data.length);
      if (data!.data.length > 0) expect(data!.pagination.nextCursor).toBe(data!.data.at(-1)!.id);
      if (!data!.pagination.hasMore) return { seen, pages };
      cursor = data!.pagination.nextCursor!;
    }
    throw new Error('pagination did not end');
  }

  it('lists one license’s active machines, oldest first, as the reference shows', async () => {
    const { response, data } = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId: a.licenseId, limit: 25 } },
    });
    expect(response.status).toBe(200);
    const expected = idsOfA.filter((_, i) => i !== 3);
    expect(data!.data.map((m) => m.id)).toEqual(expected);
    expect(data!.data.every((m) => m.licenseId === a.licenseId && m.deletedAt === null)).toBe(true);
    expect(data!.pagination).toEqual({ nextCursor: expected.at(-1), hasMore: false });
  });

  it('pages with cursor and limit, each machine exactly once, in a stable order', async () => {
    const { seen, pages } = await walk({ licenseId: a.licenseId, limit: 2 });
    expect(seen).toEqual(idsOfA.filter((_, i) => i !== 3));
    expect(pages).toEqual([2, 2, 2]);
  });

  it('includes deactivated machines when asked, with deletedAt set', async () => {
    const { seen } = await walk({ licenseId: a.licenseId, limit: 3, includeDeactivated: true });
    expect(seen).toEqual(idsOfA);
    const { data } = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId: a.licenseId, includeDeactivated: true } },
    });
    expect(data!.data[3]!.deletedAt).not.toBeNull();
  });

  it('lists every license’s machines without a filter', async () => {
    const { seen } = await walk({ limit: 100 });
    expect(seen).toEqual(expect.arrayContaining([...idsOfA.filter((_, i) => i !== 3), ...idsOfB]));
    expect(seen).not.toContain(idsOfA[3]);
    expect([...seen].sort()).toEqual(seen);
  });

  it('defaults to 25 a page', async () => {
    const c = await seedLicense(server);
    await activated(server, c.key, 26);
    const { data } = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId: c.licenseId } },
    });
    expect(data!.data).toHaveLength(25);
    expect(data!.pagination.hasMore).toBe(true);
  });

  it('answers an empty page for a license without machines, and past the end', async () => {
    const empty = await seedLicense(server);
    const { data } = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId: empty.licenseId } },
    });
    expect(data).toEqual({ data: [], pagination: { nextCursor: null, hasMore: false } });
    const past = await server.client.GET('/machines', {
      headers: bearer(reader),
      params: { query: { licenseId: a.licenseId, cursor: idsOfA.at(-1) } },
    });
    expect(past.data).toEqual({ data: [], pagination: { nextCursor: null, hasMore: false } });
  });

  it.each([
    ['limit=0', '/query/limit'],
    ['limit=101', '/query/limit'],
    ['limit=ten', '/query/limit'],
    ['limit=2.5', '/query/limit'],
    ['limit=1&limit=2', '/query/limit'],
    ['cursor=not-a-uuid', '/query/cursor'],
    ['licenseId=42', '/query/licenseId'],
    ['includeDeactivated=maybe', '/query/includeDeactivated'],
    ['colour=blue', '/query/colour'],
  ])('refuses ?%s with 400 VALIDATION_FAILED at %s', async (query, pointer) => {
    const response = await fetch(`${server.apiUrl}/machines?${query}`, { headers: bearer(reader) });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
  });

  it('gets one machine by id, as the reference shows', async () => {
    const { response, data } = await server.client.GET('/machines/{id}', {
      headers: bearer(reader),
      params: { path: { id: idsOfB[0]! } },
    });
    expect(response.status).toBe(200);
    expect(data!.data).toMatchObject({ id: idsOfB[0], licenseId: b.licenseId, name: 'b0', deletedAt: null });
  });

  it('gets a deactivated machine too, with deletedAt set', async () => {
    const { response, data } = await server.client.GET('/machines/{id}', {
      headers: bearer(reader),
      params: { path: { id: idsOfA[3]! } },
    });
    expect(response.status).toBe(200);
    expect(data!.data.deletedAt).toBe(server.clock.now().toISOString());
  });

  it('answers 404 MACHINE_NOT_FOUND for an unknown id and 400 for a malformed one', async () => {
    const missing = await server.client.GET('/machines/{id}', {
      headers: bearer(reader),
      params: { path: { id: '01a21b05-0000-7000-8000-000000000000' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'MACHINE_NOT_FOUND', status: 404 });
    const malformed = await fetch(`${server.apiUrl}/machines/not-a-uuid`, { headers: bearer(reader) });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ pointer: '/path/id' }] });
  });
});
