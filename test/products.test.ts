import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { initOrm, migrate } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { generateApiToken } from '../src/keys/api-token.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { toLicenseRecord } from '../src/licenses/license-record.ts';
import { createLogger } from '../src/log.ts';
import { Services } from '../src/services.ts';
import {
  activate,
  bearer,
  type Credentials,
  licenseAuth,
  type Problem,
  patch,
  patched,
  read,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type Product = components['schemas']['Product'];
type Scope = components['schemas']['Scope'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

let seq = 0;
/** A fresh, unused product code. */
const code = (stem = 'P') => `${stem}_${Date.now().toString(36).toUpperCase()}_${++seq}`;

async function createProduct(body: Partial<components['schemas']['CreateProductRequest']> = {}): Promise<Product> {
  const { response, data, error } = await server.client.POST('/products', {
    headers: admin,
    body: { name: 'Product', code: code(), ...body },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

async function createPolicy(credentials: Credentials, body: components['schemas']['CreatePolicyRequest']) {
  const { response, data, error } = await server.client.POST('/policies', { headers: credentials, body });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

async function createLicense(credentials: Credentials, policyId: string) {
  const { response, data, error } = await server.client.POST('/licenses', { headers: credentials, body: { policyId } });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

async function productKey(productId: string, scopes: Scope[]): Promise<Credentials> {
  const { response, data, error } = await server.client.POST('/api-keys', {
    headers: admin,
    body: { name: 'product key', scopes, productId },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  expect(data!.data.productId).toBe(productId);
  return bearer(data!.data.token);
}

/** A product with a policy, a license and an active machine under it. */
async function catalog() {
  const product = await createProduct();
  const policy = await createPolicy(admin, { name: 'Policy', productId: product.id });
  const license = await createLicense(admin, policy.id);
  const machine = await activate(server, license.key);
  return { product, policy, license, machine };
}

async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  const body = (await response.json()) as Problem;
  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(body.code).toBe(code);
  return body;
}

function call(method: string, path: string, credentials: Credentials, body?: unknown): Promise<Response> {
  return fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { ...credentials, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function validate(key: string, body: components['schemas']['ValidateLicenseRequest'] = {}) {
  const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body,
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

describe('products', () => {
  it('creates, reads, lists, changes and deletes a product', async () => {
    server.clock.set('2026-01-10T08:00:00.000Z');
    const productCode = code('DESKTOP');
    const product = await createProduct({
      name: 'Desktop Pro',
      code: productCode,
      url: 'https://example.com/desktop',
      metadata: { family: 'desktop', keep: 1 },
    });
    expect(product).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/),
      name: 'Desktop Pro',
      code: productCode,
      url: 'https://example.com/desktop',
      metadata: { family: 'desktop', keep: 1 },
      createdAt: '2026-01-10T08:00:00.000Z',
      updatedAt: '2026-01-10T08:00:00.000Z',
    });
    expect(await read(server, admin, '/products/{id}', product.id)).toEqual(product);
    expect((await createProduct({ url: undefined })).url).toBeNull();

    server.clock.set('2026-02-01T12:00:00.000Z');
    const changed = await patched(server, admin, '/products/{id}', product.id, {
      url: null,
      name: 'Desktop Pro 2',
      metadata: { family: null, tier: 'pro' },
    });
    expect(changed).toEqual({
      ...product,
      url: null,
      name: 'Desktop Pro 2',
      metadata: { keep: 1, tier: 'pro' },
      updatedAt: '2026-02-01T12:00:00.000Z',
    });

    const deleted = await server.client.DELETE('/products/{id}', {
      headers: admin,
      params: { path: { id: product.id } },
    });
    expect(deleted.data).toEqual({ data: { id: product.id, deleted: true } });
    await expectProblem(await call('GET', `/products/${product.id}`, admin), 404, 'PRODUCT_NOT_FOUND');
    await expectProblem(await call('DELETE', `/products/${product.id}`, admin), 404, 'PRODUCT_NOT_FOUND');
    // A deleted product's code is free again.
    expect((await createProduct({ code: productCode })).code).toBe(productCode);
  });

  it('lists products in pages, oldest first', async () => {
    const made = [await createProduct(), await createProduct(), await createProduct()];
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const { data } = await server.client.GET('/products', {
        headers: admin,
        params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } },
      });
      seen.push(...data!.data.map((p) => p.id));
      expect(data!.data.length).toBeLessThanOrEqual(2);
      if (!data!.pagination.hasMore) break;
      cursor = data!.pagination.nextCursor!;
    }
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(made.map((p) => p.id)));
  });

  it.each([
    ['a lower-case code', { name: 'x', code: 'desktop' }, '/code'],
    ['a code like a UUID', { name: 'x', code: '01a1f0b9-3c2d-7e41-8b5a-6d9e0f1a2b3c' }, '/code'],
    ['a code of 65 characters', { name: 'x', code: `A${'B'.repeat(64)}` }, '/code'],
    ['no code', { name: 'x' }, '/code'],
    ['an ftp URL', { name: 'x', code: 'FTP', url: 'ftp://example.com' }, '/url'],
    ['a URL with a space', { name: 'x', code: 'SPACE', url: 'https://example.com/a b' }, '/url'],
    ['an empty name', { name: '', code: 'EMPTY' }, '/name'],
    ['an unknown field', { name: 'x', code: 'UNKNOWN', cod: 'X' }, '/cod'],
  ])('refuses %s with 400 and a pointer', async (_, body, pointer) => {
    const problem = await expectProblem(await call('POST', '/products', admin, body), 400, 'VALIDATION_FAILED');
    expect(problem.errors?.map((e) => e.pointer)).toContain(pointer);
    const rows = await server.sql<{ n: number }>('select count(*)::int as n from products where code = $1', [
      (body as { code?: string }).code ?? '',
    ]);
    expect(rows[0]!.n).toBe(0);
  });

  it('refuses a bad patch without changing the product', async () => {
    const product = await createProduct();
    await expectProblem(
      await patch(server, admin, '/products/{id}', product.id, { code: 'lower' }),
      400,
      'VALIDATION_FAILED',
    );
    await expectProblem(
      await patch(server, admin, '/products/{id}', product.id, { url: 'mailto:x@y' }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await read(server, admin, '/products/{id}', product.id)).toEqual(product);
  });

  it('needs products:read to read and products:write to change', async () => {
    const reader = bearer(
      (
        await server.client.POST('/api-keys', {
          headers: admin,
          body: { name: 'reader', scopes: ['products:read'] },
        })
      ).data!.data.token,
    );
    const product = await createProduct();
    expect(await read(server, reader, '/products/{id}', product.id)).toEqual(product);
    await expectProblem(
      await call('POST', '/products', reader, { name: 'x', code: code() }),
      403,
      'INSUFFICIENT_SCOPE',
    );
    await expectProblem(
      await patch(server, reader, '/products/{id}', product.id, { name: 'y' }),
      403,
      'INSUFFICIENT_SCOPE',
    );
  });

  it('writes product.created, product.updated and product.deleted with the product as the API shows it', async () => {
    const events = useEventsAfter();
    const start = await events.last();
    const product = await createProduct();
    const changed = await patched(server, admin, '/products/{id}', product.id, { name: 'Renamed' });
    await server.client.DELETE('/products/{id}', { headers: admin, params: { path: { id: product.id } } });
    const after = (await events.since(start)).filter((e) => (e.data.product as Product | undefined)?.id === product.id);
    expect(after.map((e) => e.type)).toEqual(['product.created', 'product.updated', 'product.deleted']);
    expect(after[0]!.data.product).toEqual(product);
    expect(after[1]!.data.product).toEqual(changed);
  });
});

/** Events read through the API, for an admin key. */
function useEventsAfter() {
  return {
    async last(): Promise<string | undefined> {
      const rows = await server.sql<{ id: string }>('select max(id)::text as id from events');
      return rows[0]?.id ?? undefined;
    },
    async since(after: string | undefined) {
      const out: components['schemas']['Event'][] = [];
      let cursor = after;
      for (;;) {
        const { data, error } = await server.client.GET('/events', {
          headers: admin,
          params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } },
        });
        expect(error).toBeUndefined();
        out.push(...data!.data);
        if (!data!.pagination.hasMore) return out;
        cursor = data!.pagination.nextCursor!;
      }
    },
  };
}

describe('product codes are unique', () => {
  it('lets exactly one of 50 concurrent creations with one code through', async () => {
    const contested = code('RACE');
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call('POST', '/products', admin, { name: `racer ${i}`, code: contested })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    for (const response of responses.filter((r) => r.status === 409)) {
      await expectProblem(response, 409, 'PRODUCT_CODE_TAKEN');
    }
    const rows = await server.sql<{ n: number }>('select count(*)::int as n from products where code = $1', [
      contested,
    ]);
    expect(rows[0]!.n).toBe(1);
  });

  it('refuses renaming a product to a taken code', async () => {
    const a = await createProduct();
    const b = await createProduct();
    await expectProblem(
      await patch(server, admin, '/products/{id}', b.id, { code: a.code }),
      409,
      'PRODUCT_CODE_TAKEN',
    );
    expect(await read(server, admin, '/products/{id}', b.id)).toEqual(b);
  });
});

describe('products and policies', () => {
  it('puts a policy under a product, and shows it on licenses, machines and validations', async () => {
    const { product, policy, license, machine } = await catalog();
    expect(policy.productId).toBe(product.id);
    expect(license.productId).toBe(product.id);
    expect(machine.productId).toBe(product.id);
    expect((await read(server, admin, '/licenses/{id}', license.id)).productId).toBe(product.id);
    expect((await read(server, admin, '/machines/{id}', machine.id)).productId).toBe(product.id);
    const validation = await validate(license.key, { fingerprint: machine.fingerprint });
    expect(validation.license.productId).toBe(product.id);
    expect(validation.machine?.productId).toBe(product.id);
  });

  it('carries the product in the events of licenses and machines', async () => {
    const events = useEventsAfter();
    const start = await events.last();
    const { product, license, machine } = await catalog();
    const after = await events.since(start);
    const created = after.find((e) => e.type === 'license.created' && e.licenseId === license.id)!;
    expect((created.data.license as { productId: string }).productId).toBe(product.id);
    const activated = after.find((e) => e.type === 'machine.activated' && e.machineId === machine.id)!;
    expect(activated.data.machine).toEqual(machine);
  });

  it('keeps policies without a product working, with productId null everywhere', async () => {
    const policy = await createPolicy(admin, { name: 'No product' });
    expect(policy.productId).toBeNull();
    const license = await createLicense(admin, policy.id);
    expect(license.productId).toBeNull();
    const machine = await activate(server, license.key);
    expect(machine.productId).toBeNull();
    expect(await validate(license.key)).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('moves a policy between products, and its licenses with it', async () => {
    const { policy, license } = await catalog();
    const other = await createProduct();
    expect((await patched(server, admin, '/policies/{id}', policy.id, { productId: other.id })).productId).toBe(
      other.id,
    );
    expect((await read(server, admin, '/licenses/{id}', license.id)).productId).toBe(other.id);
    expect((await patched(server, admin, '/policies/{id}', policy.id, { productId: null })).productId).toBeNull();
    expect((await read(server, admin, '/licenses/{id}', license.id)).productId).toBeNull();
  });

  it('refuses a policy under a product that does not exist or was deleted', async () => {
    const gone = await createProduct();
    await server.client.DELETE('/products/{id}', { headers: admin, params: { path: { id: gone.id } } });
    for (const productId of [gone.id, '01a1f0b9-3c2d-7e41-8b5a-6d9e0f1a2b3c']) {
      await expectProblem(await call('POST', '/policies', admin, { name: 'x', productId }), 422, 'UNKNOWN_PRODUCT');
    }
    const policy = await createPolicy(admin, { name: 'kept' });
    await expectProblem(
      await patch(server, admin, '/policies/{id}', policy.id, { productId: gone.id }),
      422,
      'UNKNOWN_PRODUCT',
    );
    expect((await read(server, admin, '/policies/{id}', policy.id)).productId).toBeNull();
  });

  it('refuses to delete a product that still has policies', async () => {
    const { product, policy } = await catalog();
    const problem = await expectProblem(await call('DELETE', `/products/${product.id}`, admin), 409, 'PRODUCT_IN_USE');
    expect(problem.detail).toMatch(/1 policy/);
    await patched(server, admin, '/policies/{id}', policy.id, { productId: null });
    expect((await call('DELETE', `/products/${product.id}`, admin)).status).toBe(200);
  });
});

describe('API keys limited to a product', () => {
  it.each([['admin'], ['products:write'], ['events:read'], ['webhooks:write']] as const)(
    'refuses a product key with %s',
    async (scope) => {
      const product = await createProduct();
      const problem = await expectProblem(
        await call('POST', '/api-keys', admin, { name: 'k', scopes: ['licenses:read', scope], productId: product.id }),
        422,
        'SCOPE_NOT_FOR_PRODUCT_KEY',
      );
      expect(problem.detail).toContain(scope);
    },
  );

  it('refuses a product key for a product that does not exist', async () => {
    await expectProblem(
      await call('POST', '/api-keys', admin, {
        name: 'k',
        scopes: ['licenses:read'],
        productId: '01a1f0b9-3c2d-7e41-8b5a-6d9e0f1a2b3c',
      }),
      422,
      'UNKNOWN_PRODUCT',
    );
  });

  it('shows an unlimited key with productId null', async () => {
    const { data } = await server.client.POST('/api-keys', {
      headers: admin,
      body: { name: 'all products', scopes: ['licenses:read'] },
    });
    expect(data!.data.productId).toBeNull();
    expect((await read(server, admin, '/api-keys/{id}', data!.data.id)).productId).toBeNull();
  });

  describe('reach only their product', () => {
    const ALL: Scope[] = [
      'products:read',
      'policies:read',
      'policies:write',
      'licenses:read',
      'licenses:write',
      'machines:read',
      'machines:write',
    ];

    async function setup() {
      const mine = await catalog();
      const theirs = await catalog();
      const unowned = await createPolicy(admin, { name: 'no product' });
      const unownedLicense = await createLicense(admin, unowned.id);
      const key = await productKey(mine.product.id, ALL);
      return { mine, theirs, unowned, unownedLicense, key };
    }

    it('products: sees its own, not another', async () => {
      const { mine, theirs, key } = await setup();
      const { data } = await server.client.GET('/products', { headers: key, params: { query: { limit: 100 } } });
      expect(data!.data.map((p) => p.id)).toEqual([mine.product.id]);
      expect(await read(server, key, '/products/{id}', mine.product.id)).toEqual(mine.product);
      await expectProblem(await call('GET', `/products/${theirs.product.id}`, key), 404, 'PRODUCT_NOT_FOUND');
    });

    it('policies: lists, reads, changes and deletes only its own', async () => {
      const { mine, theirs, unowned, key } = await setup();
      const { data } = await server.client.GET('/policies', { headers: key, params: { query: { limit: 100 } } });
      expect(data!.data.map((p) => p.id)).toEqual([mine.policy.id]);
      for (const other of [theirs.policy.id, unowned.id]) {
        await expectProblem(await call('GET', `/policies/${other}`, key), 404, 'POLICY_NOT_FOUND');
        await expectProblem(await patch(server, key, '/policies/{id}', other, { name: 'x' }), 404, 'POLICY_NOT_FOUND');
        await expectProblem(await call('DELETE', `/policies/${other}`, key), 404, 'POLICY_NOT_FOUND');
      }
      expect((await read(server, admin, '/policies/{id}', theirs.policy.id)).name).toBe('Policy');
      expect((await patched(server, key, '/policies/{id}', mine.policy.id, { name: 'Mine' })).name).toBe('Mine');
    });

    it('policies: creates them under its product only, and cannot move one out', async () => {
      const { mine, theirs, key } = await setup();
      const created = await createPolicy(key, { name: 'defaulted' });
      expect(created.productId).toBe(mine.product.id);
      expect((await createPolicy(key, { name: 'explicit', productId: mine.product.id })).productId).toBe(
        mine.product.id,
      );
      await expectProblem(
        await call('POST', '/policies', key, { name: 'x', productId: theirs.product.id }),
        422,
        'UNKNOWN_PRODUCT',
      );
      await expectProblem(await call('POST', '/policies', key, { name: 'x', productId: null }), 422, 'UNKNOWN_PRODUCT');
      for (const productId of [theirs.product.id, null]) {
        await expectProblem(
          await patch(server, key, '/policies/{id}', created.id, { productId }),
          422,
          'UNKNOWN_PRODUCT',
        );
      }
      expect((await read(server, admin, '/policies/{id}', created.id)).productId).toBe(mine.product.id);
    });

    it('licenses: lists, reads and acts on only its own', async () => {
      const { mine, theirs, unownedLicense, key } = await setup();
      const { data } = await server.client.GET('/licenses', { headers: key, params: { query: { limit: 100 } } });
      expect(data!.data.map((l) => l.id)).toEqual([mine.license.id]);
      const filtered = await server.client.GET('/licenses', {
        headers: key,
        params: { query: { policyId: theirs.policy.id } },
      });
      expect(filtered.data!.data).toEqual([]);
      for (const other of [theirs.license.id, unownedLicense.id]) {
        await expectProblem(await call('GET', `/licenses/${other}`, key), 404, 'LICENSE_NOT_FOUND');
        await expectProblem(await patch(server, key, '/licenses/{id}', other, { name: 'x' }), 404, 'LICENSE_NOT_FOUND');
        await expectProblem(await call('POST', `/licenses/${other}/actions/suspend`, key), 404, 'LICENSE_NOT_FOUND');
        await expectProblem(await call('POST', `/licenses/${other}/actions/reinstate`, key), 404, 'LICENSE_NOT_FOUND');
        await expectProblem(await call('DELETE', `/licenses/${other}`, key), 404, 'LICENSE_NOT_FOUND');
      }
      expect(await read(server, admin, '/licenses/{id}', theirs.license.id)).toMatchObject({
        status: 'ACTIVE',
        name: null,
        machineCount: 1,
      });
      expect((await read(server, key, '/licenses/{id}', mine.license.id)).id).toBe(mine.license.id);
    });

    it('licenses: renews only its own, and changes nothing elsewhere', async () => {
      const { mine, theirs, unowned, unownedLicense, key } = await setup();
      const year = 365 * 24 * 3600;
      for (const policy of [mine.policy.id, theirs.policy.id, unowned.id])
        await patched(server, admin, '/policies/{id}', policy, { duration: year });
      for (const other of [theirs.license.id, unownedLicense.id]) {
        const before = await read(server, admin, '/licenses/{id}', other);
        await expectProblem(await call('POST', `/licenses/${other}/actions/renew`, key), 404, 'LICENSE_NOT_FOUND');
        expect(await read(server, admin, '/licenses/{id}', other)).toEqual(before);
      }
      const renewed = await call('POST', `/licenses/${mine.license.id}/actions/renew`, key);
      expect(renewed.status).toBe(200);
      expect(((await renewed.json()) as { data: { expiresAt: string | null } }).data.expiresAt).not.toBeNull();
    });

    it('licenses: creates them under its own policies only, and cannot move one out', async () => {
      const { mine, theirs, unowned, key } = await setup();
      for (const policyId of [theirs.policy.id, unowned.id]) {
        await expectProblem(await call('POST', '/licenses', key, { policyId }), 422, 'UNKNOWN_POLICY');
        await expectProblem(
          await patch(server, key, '/licenses/{id}', mine.license.id, { policyId }),
          422,
          'UNKNOWN_POLICY',
        );
      }
      expect((await read(server, admin, '/licenses/{id}', mine.license.id)).policyId).toBe(mine.policy.id);
      expect((await createLicense(key, mine.policy.id)).productId).toBe(mine.product.id);
    });

    it('machines: lists, reads and deactivates only its own', async () => {
      const { mine, theirs, key } = await setup();
      const { data } = await server.client.GET('/machines', { headers: key, params: { query: { limit: 100 } } });
      expect(data!.data.map((m) => m.id)).toEqual([mine.machine.id]);
      const ofTheirs = await server.client.GET('/machines', {
        headers: key,
        params: { query: { licenseId: theirs.license.id, includeDeactivated: true } },
      });
      expect(ofTheirs.data!.data).toEqual([]);
      await expectProblem(await call('GET', `/machines/${theirs.machine.id}`, key), 404, 'MACHINE_NOT_FOUND');
      await expectProblem(await call('DELETE', `/machines/${theirs.machine.id}`, key), 404, 'MACHINE_NOT_FOUND');
      expect((await read(server, admin, '/machines/{id}', theirs.machine.id)).deletedAt).toBeNull();
      expect((await read(server, key, '/machines/{id}', mine.machine.id)).id).toBe(mine.machine.id);
      expect((await call('DELETE', `/machines/${mine.machine.id}`, key)).status).toBe(200);
    });

    it('entitlements: lists, attaches and detaches only on its own policies and licenses', async () => {
      const { mine, theirs, unowned, unownedLicense, key } = await setup();
      const feature = code('FEAT');
      const created = await call('POST', '/entitlements', admin, { code: feature, name: 'Feature' });
      expect(created.status).toBe(201);
      const body = { entitlements: [feature] };
      for (const [kind, other, notFound] of [
        ['policies', theirs.policy.id, 'POLICY_NOT_FOUND'],
        ['policies', unowned.id, 'POLICY_NOT_FOUND'],
        ['licenses', theirs.license.id, 'LICENSE_NOT_FOUND'],
        ['licenses', unownedLicense.id, 'LICENSE_NOT_FOUND'],
      ] as const) {
        await expectProblem(await call('GET', `/${kind}/${other}/entitlements`, key), 404, notFound);
        await expectProblem(await call('POST', `/${kind}/${other}/entitlements`, key, body), 404, notFound);
        const attached = await call('POST', `/${kind}/${other}/entitlements`, admin, body);
        expect(attached.status).toBe(200);
        await expectProblem(await call('DELETE', `/${kind}/${other}/entitlements`, key, body), 404, notFound);
        const left = (await (await call('GET', `/${kind}/${other}/entitlements`, admin)).json()) as {
          data: { code: string }[];
        };
        expect(left.data.map((e) => e.code)).toEqual([feature]);
      }
      for (const [kind, own] of [
        ['policies', mine.policy.id],
        ['licenses', mine.license.id],
      ] as const) {
        expect((await call('POST', `/${kind}/${own}/entitlements`, key, body)).status).toBe(200);
        expect((await call('GET', `/${kind}/${own}/entitlements`, key)).status).toBe(200);
        expect((await call('DELETE', `/${kind}/${own}/entitlements`, key, body)).status).toBe(200);
      }
    });

    it('sees nothing once a policy moves out of its product', async () => {
      const { mine, key } = await setup();
      await patched(server, admin, '/policies/{id}', mine.policy.id, { productId: null });
      await expectProblem(await call('GET', `/licenses/${mine.license.id}`, key), 404, 'LICENSE_NOT_FOUND');
      await expectProblem(await call('GET', `/machines/${mine.machine.id}`, key), 404, 'MACHINE_NOT_FOUND');
      await expectProblem(await call('GET', `/policies/${mine.policy.id}`, key), 404, 'POLICY_NOT_FOUND');
    });

    it('cannot reach what spans every product', async () => {
      const { key } = await setup();
      for (const [method, path] of [
        ['GET', '/events'],
        ['GET', '/api-keys'],
        ['GET', '/webhook-endpoints'],
        ['POST', '/products'],
      ] as const) {
        await expectProblem(
          await call(method, path, key, method === 'POST' ? { name: 'x', code: code() } : undefined),
          403,
          'INSUFFICIENT_SCOPE',
        );
      }
    });
  });
});

describe('validation scopes', () => {
  it('validates a license for its own product, by id or by code, and its own policy', async () => {
    const { product, policy, license } = await catalog();
    for (const scope of [
      { product: product.id },
      { product: product.id.toUpperCase() },
      { product: product.code },
      { policy: policy.id },
      { product: product.code, policy: policy.id },
    ]) {
      expect(await validate(license.key, scope), JSON.stringify(scope)).toMatchObject({ valid: true, code: 'VALID' });
    }
  });

  it('says PRODUCT_SCOPE_MISMATCH for a key of another product, or of none', async () => {
    const a = await catalog();
    const b = await catalog();
    for (const product of [b.product.id, b.product.code, 'NO_SUCH_PRODUCT', b.product.code.toLowerCase()]) {
      expect(await validate(a.license.key, { product })).toMatchObject({
        valid: false,
        code: 'PRODUCT_SCOPE_MISMATCH',
      });
    }
    const bare = await createLicense(admin, (await createPolicy(admin, { name: 'none' })).id);
    expect(await validate(bare.key, { product: a.product.code })).toMatchObject({
      valid: false,
      code: 'PRODUCT_SCOPE_MISMATCH',
    });
  });

  it('says POLICY_SCOPE_MISMATCH for a license under another policy', async () => {
    const a = await catalog();
    const other = await createPolicy(admin, { name: 'other', productId: a.product.id });
    expect(await validate(a.license.key, { product: a.product.code, policy: other.id })).toMatchObject({
      valid: false,
      code: 'POLICY_SCOPE_MISMATCH',
    });
  });

  it('answers a scope mismatch before anything else about the license', async () => {
    const a = await catalog();
    const b = await catalog();
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: a.license.id } },
    });
    expect(await validate(a.license.key, { product: b.product.id, fingerprint: 'not-activated-here' })).toMatchObject({
      valid: false,
      code: 'PRODUCT_SCOPE_MISMATCH',
    });
    expect(await validate(a.license.key, { policy: b.policy.id })).toMatchObject({ code: 'POLICY_SCOPE_MISMATCH' });
    expect(await validate(a.license.key, { product: a.product.id })).toMatchObject({ valid: false, code: 'SUSPENDED' });
  });

  it('follows a change of the product code at once', async () => {
    const a = await catalog();
    const old = a.product.code;
    const renamed = code('RENAMED');
    await patched(server, admin, '/products/{id}', a.product.id, { code: renamed });
    expect(await validate(a.license.key, { product: old })).toMatchObject({ code: 'PRODUCT_SCOPE_MISMATCH' });
    expect(await validate(a.license.key, { product: renamed })).toMatchObject({ code: 'VALID' });
  });

  it('refuses a malformed scope with 400', async () => {
    const a = await catalog();
    for (const body of [{ product: 'has space' }, { product: '' }, { policy: 'not-a-uuid' }]) {
      const response = await fetch(`${server.apiUrl}/licenses/actions/validate`, {
        method: 'POST',
        headers: { ...licenseAuth(a.license.key), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      await expectProblem(response, 400, 'VALIDATION_FAILED');
    }
  });
});

describe('the products migration', () => {
  it('keeps every existing policy, license and API key meaning what it meant', async () => {
    // A database as the release before products left it: every migration up to the products one.
    const name = `${inject('databasePrefix')}premigration_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: inject('serverUrl') });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(inject('serverUrl'));
    url.pathname = `/${name}`;
    const orm = await initOrm({
      clientUrl: url.toString(),
      entities: ENTITIES,
      log: createLogger('warn', process.stderr),
      poolSize: 2,
    });
    try {
      await orm.migrator.up({ to: 'Migration20261129020000_hot_paths' });
      const em = orm.em.fork();
      const hasher = new KeyHasher(TEST_SECRET);
      const now = new Date('2026-11-30T00:00:00.000Z');
      const [policyId, licenseId, apiKeyId] = [uuidv7(), uuidv7(), uuidv7()];
      const token = generateApiToken();
      await em.execute(
        `insert into policies (id, name, max_machines, key_prefix, require_heartbeat, heartbeat_duration,
           heartbeat_cull_strategy, heartbeat_resurrection_window, metadata, created_at, updated_at)
         values (?, 'old', 2, 'OLD', false, 600, 'DEACTIVATE_DEAD', 0, '{}', ?, ?)`,
        [policyId, now, now],
      );
      await em.execute(
        `insert into licenses (id, policy_id, key_hash, key_hint, metadata, created_at, updated_at)
         values (?, ?, ?, 'OLD-…-AAAAA', '{}', ?, ?)`,
        [licenseId, policyId, randomBytes(32), now, now],
      );
      await em.execute(
        `insert into api_keys (id, name, token_hash, token_hint, scopes, created_at)
         values (?, 'old', ?, 'lct_x…y', '{licenses:read}', ?)`,
        [apiKeyId, hasher.hash('api-key', token), now],
      );

      // Every migration after the release this database was made by, products among them.
      const listed = (orm.config.get('migrations').migrationsList ?? []).map((m) => m.name!);
      const after = listed.slice(listed.indexOf('Migration20261129020000_hot_paths') + 1);
      expect(after).toContain('Migration20261204000000_products');
      expect(await migrate(orm)).toEqual(after);

      const services = new Services(orm.em.fork(), { now: () => now }, hasher, CLI_ACTOR);
      expect((await services.policies.get(policyId)).productId).toBeNull();
      const [row] = await services.em.execute('select * from licenses where id = ?', [licenseId]);
      const license = toLicenseRecord(row as Record<string, unknown>);
      expect((await services.licenses.view(licenseId)).productId).toBeNull();
      expect(await services.licenses.validate(license)).toMatchObject({ valid: true, code: 'VALID' });
      expect(await services.licenses.validate(license, { product: 'ANY' })).toMatchObject({
        valid: false,
        code: 'PRODUCT_SCOPE_MISMATCH',
      });
      const apiKey = await services.apiKeys.authenticate(token);
      expect(apiKey).toMatchObject({ id: apiKeyId, productId: null, scopes: ['licenses:read'] });
      // An unlimited key still sees the old policy.
      expect((await services.policies.list({ limit: 10 })).items.map((p) => p.id)).toEqual([policyId]);
    } finally {
      await orm.close();
    }
  });
});
