import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import type { Scope } from '../src/keys/scopes.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import {
  activate,
  bearer,
  type Credentials,
  licenseAuth,
  type Problem,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

/**
 * What the support console (issue 21) reads through the public API: the calling key, license
 * search and lookup by key, and the queue of dead machines waiting for review.
 */

type CreatePolicy = components['schemas']['CreatePolicyRequest'];
type License = components['schemas']['License'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const silent = createLogger('silent');

let seq = 0;

async function product(): Promise<string> {
  const { response, data, error } = await server.client.POST('/products', {
    headers: admin,
    body: { name: 'Console product', code: `CONSOLE_${++seq}` },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data.id;
}

/** A key limited to one product. */
async function productKey(productId: string, scopes: Scope[]): Promise<Credentials> {
  const { response, data, error } = await server.client.POST('/api-keys', {
    headers: admin,
    body: { name: 'product key', scopes, productId },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return bearer(data!.data.token);
}

async function policy(body: Partial<CreatePolicy> = {}): Promise<string> {
  const { response, data, error } = await server.client.POST('/policies', {
    headers: admin,
    body: { name: `console policy ${++seq}`, ...body },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data.id;
}

async function license(
  policyId: string,
  body: { name?: string; metadata?: Record<string, unknown> } = {},
): Promise<License & { key: string }> {
  const { response, data, error } = await server.client.POST('/licenses', {
    headers: admin,
    body: { policyId, ...body },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

describe('GET /api-keys/current', () => {
  it('answers the calling key as the API-key list shows it, never its token', async () => {
    const created = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'support console', scopes: ['machines:read'] },
    });
    expect(created.response.status).toBe(201);
    const { token, ...listed } = created.data!.data;

    const { response, data } = await server.client.GET('/api-keys/current', { headers: bearer(token) });
    expect(response.status).toBe(200);
    // lastUsedAt: this very request counts as a use.
    expect({ ...data!.data, lastUsedAt: null }).toEqual({ ...listed, lastUsedAt: null });
    expect(JSON.stringify(data)).not.toContain(token);
    const got = await server.client.GET('/api-keys/{id}', { headers: admin, params: { path: { id: listed.id } } });
    expect(data!.data).toEqual(got.data!.data);
  });

  it('needs no scope, and shows a product-limited key its product', async () => {
    const productId = await product();
    const limited = await productKey(productId, ['licenses:read']);
    const { response, data } = await server.client.GET('/api-keys/current', { headers: limited });
    expect(response.status).toBe(200);
    expect(data!.data.productId).toBe(productId);
    expect(data!.data.scopes).toEqual(['licenses:read']);
  });

  it('is routed before /api-keys/{id}: "current" is never read as an id', async () => {
    const { response, data } = await server.client.GET('/api-keys/current', { headers: admin });
    expect(response.status).toBe(200);
    expect(data!.data.scopes).toEqual(['admin']);
  });

  it('refuses a revoked key (401) and a license key (401, as every API-key operation does)', async () => {
    const created = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'gone', scopes: ['admin'] },
    });
    await server.client.DELETE('/api-keys/{id}', { headers: admin, params: { path: { id: created.data!.data.id } } });
    const revoked = await server.client.GET('/api-keys/current', { headers: bearer(created.data!.data.token) });
    expect(revoked.response.status).toBe(401);
    expect((revoked.error as Problem).code).toBe('INVALID_CREDENTIALS');

    const { key } = await license(await policy());
    const byLicense = await server.client.GET('/api-keys/current', { headers: licenseAuth(key) });
    expect(byLicense.response.status).toBe(401);
    expect((byLicense.error as Problem).code).toBe('AUTHENTICATION_REQUIRED');
  });
});

describe('GET /licenses?search=', () => {
  let policyId: string;
  let other: string;
  const ids: Record<string, string> = {};
  const reader = useApiKey(server, ['licenses:read']);

  beforeAll(async () => {
    policyId = await policy();
    other = await policy();
    const make = async (label: string, body: Parameters<typeof license>[1], under = policyId) => {
      ids[label] = (await license(under, body)).id;
    };
    await make('acme', { name: 'Acme Corp — design team' });
    await make('acmeLabs', { name: 'ACME Labs' });
    await make('globex', { name: 'Globex', metadata: { email: 'Jane@Example.com', customerId: 1042, vip: true } });
    await make('nested', { name: 'Initech', metadata: { contact: { email: 'nested@example.com' } } });
    await make('percent', { name: '100% off_sale' });
    await make('plain100', { name: '1000 seats' });
    await make('otherPolicy', { name: 'Acme abroad' }, other);
    await make('unnamed', { metadata: { email: 'jane@example.com.au' } });
  });

  async function search(query: Record<string, unknown>, credentials: Credentials = reader): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 500; guard++) {
      const { response, data, error } = await server.client.GET('/licenses', {
        headers: credentials,
        params: { query: { ...query, cursor } },
      });
      expect(response.status, JSON.stringify(error)).toBe(200);
      seen.push(...data!.data.map((l) => l.id));
      if (!data!.pagination.hasMore) return seen.map((id) => Object.keys(ids).find((k) => ids[k] === id) ?? id);
      cursor = data!.pagination.nextCursor!;
    }
    throw new Error('pagination did not end');
  }

  it('finds a substring of the name in any case, oldest first', async () => {
    expect(await search({ search: 'acme' })).toEqual(['acme', 'acmeLabs', 'otherPolicy']);
    expect(await search({ search: 'ME CO' })).toEqual(['acme']);
    expect(await search({ search: '— design' })).toEqual(['acme']);
  });

  it('reads % and _ as themselves, not as wildcards', async () => {
    expect(await search({ search: '100%' })).toEqual(['percent']);
    expect(await search({ search: 'f_s' })).toEqual(['percent']);
    expect(await search({ search: '%' })).toEqual(['percent']);
  });

  it('finds a top-level metadata value equal to the text: strings in any case, numbers and booleans as written', async () => {
    expect(await search({ search: 'jane@example.com' })).toEqual(['globex']);
    expect(await search({ search: 'JANE@EXAMPLE.COM' })).toEqual(['globex']);
    expect(await search({ search: '1042' })).toEqual(['globex']);
    expect(await search({ search: 'jane@example.com.au' })).toEqual(['unnamed']);
  });

  it('does not match part of a metadata value, a nested value or a key', async () => {
    expect(await search({ search: 'example.com' })).toEqual([]);
    expect(await search({ search: 'nested@example.com' })).toEqual([]);
    expect(await search({ search: 'email' })).toEqual([]);
    expect(await search({ search: 'customerId' })).toEqual([]);
  });

  it('narrows the other filters', async () => {
    expect(await search({ search: 'acme', policyId: other })).toEqual(['otherPolicy']);
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: ids.acmeLabs! } },
    });
    expect(await search({ search: 'acme', policyId, status: 'ACTIVE' })).toEqual(['acme']);
    expect(await search({ search: 'acme', status: 'SUSPENDED' })).toEqual(['acmeLabs']);
  });

  it('pages with the cursor like the list without it', async () => {
    const pageIds: string[] = [];
    for (let i = 0; i < 5; i++) pageIds.push((await license(policyId, { name: `Paging customer ${i}` })).id);
    const first = await server.client.GET('/licenses', {
      headers: reader,
      params: { query: { search: 'paging CUSTOMER', limit: 2 } },
    });
    expect(first.data!.data.map((l) => l.id)).toEqual(pageIds.slice(0, 2));
    expect(first.data!.pagination).toEqual({ nextCursor: pageIds[1], hasMore: true });
    expect(await search({ search: 'paging customer', limit: 2 })).toEqual(pageIds);
  });

  it('answers the same whether the first licenses in id order hold the page or the indexes must', async () => {
    // More licenses than a search tests one by one before it asks its indexes (1 000), under
    // ids that interleave with the others'.
    const bulk = await policy();
    await server.sql(
      `insert into licenses (id, policy_id, key_hash, key_hint, name, metadata, created_at, updated_at)
       select gen_random_uuid(), $1, sha256(('bulk-' || i)::bytea), 'TST-…', 'Bulk ' || i,
              json_build_object('n', i), now(), now() from generate_series(1, 1200) i`,
      [bulk],
    );
    const expected = async (where: string, values: unknown[]) =>
      (
        await server.sql<{ id: string }>(
          `select id from licenses where deleted_at is null and ${where} order by id`,
          values,
        )
      ).map((r) => r.id);
    // Few matches: the walk finds at most one, so the indexes answer.
    expect(await search({ search: 'BULK 1199' })).toEqual(await expected(`name ilike '%bulk 1199%'`, []));
    expect(await search({ search: '1199' })).toEqual(
      await expected(`(name like '%1199%' or metadata->>'n' = '1199')`, []),
    );
    // Many: every page but the last is filled by the walk.
    expect(await search({ search: 'bulk', limit: 100 })).toEqual(await expected(`name ilike '%bulk%'`, []));
    expect(await search({ search: 'bulk', policyId: bulk, limit: 7 })).toHaveLength(1200);
  });

  it('leaves out deleted licenses', async () => {
    const gone = await license(policyId, { name: 'Deleted customer' });
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: gone.id } } });
    expect(await search({ search: 'deleted customer' })).toEqual([]);
  });

  it('shows a product-limited key its product’s licenses only', async () => {
    const productId = await product();
    const mine = await license(await policy({ productId }), { name: 'Hooli', metadata: { email: 'jane@example.com' } });
    const limited = await productKey(productId, ['licenses:read']);
    expect(await search({ search: 'jane@example.com' }, limited)).toEqual([mine.id]);
    expect(await search({ search: 'acme' }, limited)).toEqual([]);
    expect(await search({ search: 'jane@example.com' })).toEqual(['globex', mine.id]);
  });

  it('keeps licenses whose metadata no search can equal: long values and the escape \\u0000', async () => {
    const long = await license(policyId, { name: 'Long values', metadata: { notes: 'x'.repeat(10_000) } });
    const nul = await license(policyId, { name: 'Nul', metadata: { raw: 'a\u0000b', email: 'nul@example.com' } });
    expect(await search({ search: 'long values' })).toEqual([long.id]);
    expect(await search({ search: 'x'.repeat(256) })).toEqual([]);
    expect(await search({ search: 'nul@example.com' })).toEqual([nul.id]);
  });

  it('refuses an empty, over-long or multi-line search with VALIDATION_FAILED', async () => {
    for (const search of ['', 'x'.repeat(257), 'a\u0000b', 'two\nlines']) {
      const { response, error } = await server.client.GET('/licenses', {
        headers: reader,
        params: { query: { search } },
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((error as Problem).code).toBe('VALIDATION_FAILED');
    }
    const exactly = await server.client.GET('/licenses', {
      headers: reader,
      params: { query: { search: 'é'.repeat(256) } },
    });
    expect(exactly.response.status).toBe(200);
  });
});

describe('POST /licenses/actions/lookup', () => {
  const reader = useApiKey(server, ['licenses:read']);
  let policyId: string;

  beforeAll(async () => {
    policyId = await policy();
  });

  const lookup = (key: unknown, credentials: Credentials = reader) =>
    server.client.POST('/licenses/actions/lookup', { headers: credentials, body: { key } as { key: string } });

  it('answers the license of a key, as GET /licenses/{id} does', async () => {
    const created = await license(policyId, { name: 'Looked up' });
    const { response, data } = await lookup(created.key);
    expect(response.status).toBe(200);
    const got = await server.client.GET('/licenses/{id}', { headers: reader, params: { path: { id: created.id } } });
    expect(data!.data).toEqual(got.data!.data);
    expect(JSON.stringify(data)).not.toContain(created.key);
  });

  it('reads the key as authentication does: any case, surrounding blanks', async () => {
    const created = await license(policyId);
    const { response, data } = await lookup(`  ${created.key.toLowerCase()} `);
    expect(response.status).toBe(200);
    expect(data!.data.id).toBe(created.id);
  });

  it('is LICENSE_NOT_FOUND for a key of no license, naming neither key nor license', async () => {
    const created = await license(policyId);
    // The same shape and prefix, one group changed: a key this server never issued.
    const groups = created.key.split('-');
    groups[1] = groups[1] === 'AAAAA' ? 'BBBBB' : 'AAAAA';
    for (const key of [groups.join('-'), 'not a key', 'x'.repeat(512)]) {
      const { response, error } = await lookup(key);
      expect(response.status).toBe(404);
      expect((error as Problem).code).toBe('LICENSE_NOT_FOUND');
      expect((error as Problem).detail).toBe('No license has this key.');
    }
  });

  it('is LICENSE_NOT_FOUND for a deleted license', async () => {
    const created = await license(policyId);
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: created.id } } });
    const { response, error } = await lookup(created.key);
    expect(response.status).toBe(404);
    expect((error as Problem).code).toBe('LICENSE_NOT_FOUND');
  });

  it('shows a product-limited key its product’s licenses only', async () => {
    const productId = await product();
    const mine = await license(await policy({ productId }));
    const theirs = await license(policyId);
    const limited = await productKey(productId, ['licenses:read']);
    expect((await lookup(mine.key, limited)).data!.data.id).toBe(mine.id);
    const refused = await lookup(theirs.key, limited);
    expect(refused.response.status).toBe(404);
    expect((refused.error as Problem).code).toBe('LICENSE_NOT_FOUND');
  });

  it('needs licenses:read', async () => {
    const created = await license(policyId);
    const { response, error } = await lookup(created.key, bearer(await seedKey(['machines:read'])));
    expect(response.status).toBe(403);
    expect((error as Problem).code).toBe('INSUFFICIENT_SCOPE');
  });

  it('refuses a body that breaks the schema with VALIDATION_FAILED', async () => {
    for (const body of [
      {},
      { key: '' },
      { key: 'x'.repeat(513) },
      { key: 42 },
      { key: 'a\tb' },
      { key: 'a\u0000b' },
      { key: 'k', extra: 1 },
    ]) {
      const response = await fetch(`${server.apiUrl}/licenses/actions/lookup`, {
        method: 'POST',
        headers: { ...reader, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as Problem).code).toBe('VALIDATION_FAILED');
    }
  });

  async function seedKey(scopes: Scope[]): Promise<string> {
    const { data } = await server.client.POST('/api-keys', { headers: admin, body: { name: 'k', scopes } });
    return data!.data.token;
  }
});

describe('POST /licenses/actions/lookup, in the logs', () => {
  const lines = new PassThrough();
  let logged = '';
  lines.on('data', (chunk) => {
    logged += String(chunk);
  });
  const logging = useTestServer({ logTo: lines });

  it('never writes the key to the log, found or not', async () => {
    const { token } = await logging.services().apiKeys.create({ name: 'log', scopes: ['admin'], expiresAt: null });
    const created = await seedPolicyAndLicense(logging, bearer(token), { name: 'logged' });
    logged = '';
    const found = await logging.client.POST('/licenses/actions/lookup', {
      headers: bearer(token),
      body: { key: created.key },
    });
    expect(found.response.status).toBe(200);
    const missing = await logging.client.POST('/licenses/actions/lookup', {
      headers: bearer(token),
      body: { key: `${created.key.slice(0, -1)}Z` },
    });
    expect(missing.response.status).toBe(404);
    expect(logged).toContain('/licenses/actions/lookup');
    expect(logged).not.toContain(created.key);
    expect(logged).not.toContain(created.key.slice(4));
  });
});

describe('GET /machines/review-queue', () => {
  const reader = useApiKey(server, ['machines:read']);
  const start = new Date('2027-06-01T00:00:00.000Z').getTime();
  const at = (seconds: number) => new Date(start + seconds * 1000);
  let queueProduct: string;
  /** Machines by label. */
  const m: Record<string, string> = {};

  /** Runs the culling worker's pass at the server's time. */
  const cull = () => cullPass(server.orm.em.fork(), server.clock, silent);

  async function activateAt(seconds: number, key: string, label: string) {
    server.clock.set(at(seconds));
    m[label] = (await activate(server, key, { name: label })).id;
  }

  beforeAll(async () => {
    queueProduct = await product();
    const keep = (heartbeatDuration: number, productId?: string) =>
      policy({
        requireHeartbeat: true,
        heartbeatDuration,
        heartbeatCullStrategy: 'KEEP_DEAD',
        ...(productId ? { productId } : {}),
      });
    const short = await license(await keep(600));
    const long = await license(await keep(3600, queueProduct));
    const culled = await license(
      await policy({ requireHeartbeat: true, heartbeatDuration: 600, heartbeatCullStrategy: 'DEACTIVATE_DEAD' }),
    );
    const relaxed = await license(await policy({ requireHeartbeat: false, heartbeatCullStrategy: 'KEEP_DEAD' }));
    const windowed = await license(
      await policy({
        requireHeartbeat: true,
        heartbeatDuration: 600,
        heartbeatResurrectionWindow: 86_400,
        heartbeatCullStrategy: 'KEEP_DEAD',
      }),
    );

    // Died at: a 600 + 600 = 1200, b 0 + 3600 = 3600, c 900 + 600 = 1500, d 3000 + 600 = 3600.
    await activateAt(0, long.key, 'b');
    await activateAt(600, short.key, 'a');
    await activateAt(900, short.key, 'c');
    await activateAt(3000, short.key, 'd');
    await activateAt(100, culled.key, 'culled');
    await activateAt(100, relaxed.key, 'relaxed');
    await activateAt(100, windowed.key, 'windowed');
    await activateAt(4000, short.key, 'alive');
    server.clock.set(at(4500));
    await cull();
  });

  async function walk(limit: number, credentials: Credentials = reader) {
    const pages: { ids: string[]; waiting: number }[] = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 50; guard++) {
      const { response, data, error } = await server.client.GET('/machines/review-queue', {
        headers: credentials,
        params: { query: { limit, cursor } },
      });
      expect(response.status, JSON.stringify(error)).toBe(200);
      pages.push({ ids: data!.data.map((x) => x.id), waiting: data!.meta.waiting });
      expect(data!.data.every((x) => x.heartbeatStatus === 'DEAD' && x.deletedAt === null)).toBe(true);
      if (data!.meta.nextCursor === undefined) return pages;
      expect(data!.meta.nextCursor).toBe(data!.data.at(-1)!.id);
      cursor = data!.meta.nextCursor;
    }
    throw new Error('pagination did not end');
  }

  const label = (id: string) => Object.keys(m).find((k) => m[k] === id) ?? id;

  it('lists the machines KEEP_DEAD policies kept, longest dead first, ties by id, and counts them', async () => {
    const [page, ...rest] = await walk(100);
    expect(rest).toEqual([]);
    const tie = [m.b!, m.d!].sort().map(label);
    expect(page!.ids.map(label)).toEqual(['a', 'c', ...tie]);
    expect(page!.waiting).toBe(4);
  });

  it('pages with meta.nextCursor, each page counting the whole queue', async () => {
    const pages = await walk(1);
    expect(pages.map((p) => p.ids.length)).toEqual([1, 1, 1, 1]);
    expect(pages.flatMap((p) => p.ids).map(label)).toEqual((await walk(100))[0]!.ids.map(label));
    expect(pages.every((p) => p.waiting === 4)).toBe(true);
  });

  it('shows a product-limited key its product’s machines only', async () => {
    const limited = await productKey(queueProduct, ['machines:read']);
    const pages = await walk(25, limited);
    expect(pages).toEqual([{ ids: [m.b], waiting: 1 }]);
  });

  it('drops a machine once deactivated, and a cursor on it still continues the queue', async () => {
    const first = await server.client.GET('/machines/review-queue', {
      headers: reader,
      params: { query: { limit: 1 } },
    });
    expect(first.data!.data.map((x) => label(x.id))).toEqual(['a']);
    const deactivated = await server.client.DELETE('/machines/{id}', {
      headers: admin,
      params: { path: { id: m.a! } },
    });
    expect(deactivated.response.status).toBe(200);
    const next = await server.client.GET('/machines/review-queue', {
      headers: reader,
      params: { query: { limit: 1, cursor: first.data!.meta.nextCursor } },
    });
    expect(next.data!.data.map((x) => label(x.id))).toEqual(['c']);
    expect(next.data!.meta.waiting).toBe(3);
    const whole = await walk(100);
    expect(whole[0]!.ids).not.toContain(m.a);
  });

  it('answers an empty page for a cursor that has no place in the queue', async () => {
    const { response, data } = await server.client.GET('/machines/review-queue', {
      headers: reader,
      params: { query: { cursor: m.alive } },
    });
    expect(response.status).toBe(200);
    expect(data!.data).toEqual([]);
    expect(data!.meta).toEqual({ waiting: 3 });
  });

  it('needs machines:read', async () => {
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'k', scopes: ['licenses:read'] },
    });
    const { response, error } = await server.client.GET('/machines/review-queue', {
      headers: bearer(data!.data.token),
    });
    expect(response.status).toBe(403);
    expect((error as Problem).code).toBe('INSUFFICIENT_SCOPE');
  });

  it('refuses a bad limit or cursor with VALIDATION_FAILED', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=x', 'cursor=nope']) {
      const response = await fetch(`${server.apiUrl}/machines/review-queue?${query}`, { headers: reader });
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as Problem).code).toBe('VALIDATION_FAILED');
    }
  });
});
