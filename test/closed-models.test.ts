import { describe, expect, it } from 'vitest';
import { ensureSigningKey } from '../src/offline/signing-keys.ts';
import {
  bearer,
  licenseAuth,
  type Problem,
  seedApiKey,
  seedLicense,
  TEST_SECRET,
  type TestServer,
  useTestServer,
} from './support/harness.ts';

/**
 * Request bodies are closed: a field the operation does not know is refused with 400 and its
 * pointer, never silently ignored (a typo such as `max_machines` would otherwise create an
 * unlimited policy). One case per operation that takes a body; the last test fails when the
 * spec gains such an operation without a case here.
 */

const server = useTestServer();

interface Case {
  operationId: string;
  /** Sets up what the request needs and says what it is; `snapshot` reads what must not change. */
  prepare(server: TestServer): Promise<{
    method: string;
    path: string;
    auth: Record<string, string>;
    contentType?: string;
    body: Record<string, unknown>;
    snapshot(): Promise<unknown>;
  }>;
  /** A misspelling of one of the operation's fields, and the field the server should suggest. */
  typo: [string, string];
}

let patched = 0;
let closed = 0;
const count = (table: string) => async () => (await server.sql(`select count(*)::int as n from ${table}`))[0];
const row = (table: string, id: string) => async () =>
  (await server.sql(`select * from ${table} where id = $1`, [id]))[0];

const cases: Case[] = [
  {
    operationId: 'createEntitlement',
    typo: ['metdata', 'metadata'],
    prepare: async (s) => ({
      method: 'POST',
      path: '/entitlements',
      auth: bearer(await seedApiKey(s, ['admin'])),
      body: { code: 'CLOSED_CREATE', name: 'e' },
      snapshot: count('entitlements'),
    }),
  },
  {
    operationId: 'updateEntitlement',
    typo: ['nmae', 'name'],
    prepare: async (s) => {
      const { id } = await s.services().entitlements.create({ code: `CLOSED_${++closed}`, name: 'e' });
      return {
        method: 'PATCH',
        path: `/entitlements/${id}`,
        auth: bearer(await seedApiKey(s, ['admin'])),
        contentType: 'application/merge-patch+json',
        body: { name: 'Renamed' },
        snapshot: row('entitlements', id),
      };
    },
  },
  ...(
    [
      ['attachPolicyEntitlements', 'POST', 'policies'],
      ['detachPolicyEntitlements', 'DELETE', 'policies'],
      ['attachLicenseEntitlements', 'POST', 'licenses'],
      ['detachLicenseEntitlements', 'DELETE', 'licenses'],
    ] as const
  ).map(
    ([operationId, method, owner]): Case => ({
      operationId,
      typo: ['entitlement', 'entitlements'],
      prepare: async (s) => {
        const { policyId, licenseId } = await seedLicense(s);
        const { code } = await s.services().entitlements.create({ code: `CLOSED_${++closed}`, name: 'e' });
        if (method === 'DELETE') {
          await s
            .services()
            .entitlements.attach(
              { kind: owner === 'policies' ? 'policy' : 'license', id: owner === 'policies' ? policyId : licenseId },
              [code],
            );
        }
        return {
          method,
          path: `/${owner}/${owner === 'policies' ? policyId : licenseId}/entitlements`,
          auth: bearer(await seedApiKey(s, ['admin'])),
          body: { entitlements: [code] },
          snapshot: count(owner === 'policies' ? 'policy_entitlements' : 'license_entitlements'),
        };
      },
    }),
  ),
  {
    operationId: 'activateMachine',
    typo: ['finger_print', 'fingerprint'],
    prepare: async (s) => {
      const { key } = await seedLicense(s);
      return {
        method: 'POST',
        path: '/machines',
        auth: licenseAuth(key),
        body: { fingerprint: 'hw-closed-1' },
        snapshot: count('machines'),
      };
    },
  },
  {
    operationId: 'createPolicy',
    typo: ['max_machines', 'maxMachines'],
    prepare: async (s) => ({
      method: 'POST',
      path: '/policies',
      auth: bearer(await seedApiKey(s, ['admin'])),
      body: { name: 'P' },
      snapshot: count('policies'),
    }),
  },
  {
    operationId: 'updatePolicy',
    typo: ['heartbeatDurration', 'heartbeatDuration'],
    prepare: async (s) => {
      const { policyId } = await seedLicense(s);
      return {
        method: 'PATCH',
        path: `/policies/${policyId}`,
        auth: bearer(await seedApiKey(s, ['admin'])),
        contentType: 'application/merge-patch+json',
        body: { name: 'Renamed' },
        snapshot: row('policies', policyId),
      };
    },
  },
  {
    operationId: 'createProduct',
    typo: ['Code', 'code'],
    prepare: async (s) => ({
      method: 'POST',
      path: '/products',
      auth: bearer(await seedApiKey(s, ['admin'])),
      body: { name: 'P', code: 'CLOSED' },
      snapshot: count('products'),
    }),
  },
  {
    operationId: 'updateProduct',
    typo: ['url_', 'url'],
    prepare: async (s) => {
      const { id } = await s.services().products.create({ name: 'P', code: `CLOSED_PATCH_${++patched}` });
      return {
        method: 'PATCH',
        path: `/products/${id}`,
        auth: bearer(await seedApiKey(s, ['admin'])),
        contentType: 'application/merge-patch+json',
        body: { name: 'Renamed' },
        snapshot: row('products', id),
      };
    },
  },
  {
    operationId: 'createLicense',
    typo: ['expires_at', 'expiresAt'],
    prepare: async (s) => {
      const { policyId } = await seedLicense(s);
      return {
        method: 'POST',
        path: '/licenses',
        auth: bearer(await seedApiKey(s, ['admin'])),
        body: { policyId },
        snapshot: count('licenses'),
      };
    },
  },
  {
    operationId: 'updateLicense',
    typo: ['policyID', 'policyId'],
    prepare: async (s) => {
      const { licenseId } = await seedLicense(s);
      return {
        method: 'PATCH',
        path: `/licenses/${licenseId}`,
        auth: bearer(await seedApiKey(s, ['admin'])),
        contentType: 'application/merge-patch+json',
        body: { name: 'Renamed' },
        snapshot: row('licenses', licenseId),
      };
    },
  },
  {
    operationId: 'lookupLicense',
    typo: ['kye', 'key'],
    prepare: async (s) => {
      const { key, licenseId } = await seedLicense(s);
      return {
        method: 'POST',
        path: '/licenses/actions/lookup',
        auth: bearer(await seedApiKey(s, ['licenses:read'])),
        body: { key },
        snapshot: row('licenses', licenseId),
      };
    },
  },
  {
    operationId: 'validateLicense',
    typo: ['fingerprnt', 'fingerprint'],
    prepare: async (s) => {
      const { key, licenseId } = await seedLicense(s);
      return {
        method: 'POST',
        path: '/licenses/actions/validate',
        auth: licenseAuth(key),
        body: {},
        snapshot: row('licenses', licenseId),
      };
    },
  },
  ...(
    [
      ['checkOutMachine', 'encrpyt', 'encrypt'],
      ['checkOutLicense', 'tll', 'ttl'],
      ['checkOutLicenseById', 'includes', 'include'],
    ] as const
  ).map(
    ([operationId, typo, meant]): Case => ({
      operationId,
      typo: [typo, meant],
      prepare: async (s) => {
        // What a real start's migration makes (runtime.ts); the template database has no key.
        await s.orm.em.fork().transactional((em) => ensureSigningKey(TEST_SECRET)(em));
        const { key, licenseId } = await seedLicense(s);
        const machine = await s.services().machines.activate(licenseId, { fingerprint: `hw-closed-${++closed}` });
        const path = {
          checkOutMachine: `/machines/${machine.id}/actions/check-out`,
          checkOutLicense: '/licenses/actions/check-out',
          checkOutLicenseById: `/licenses/${licenseId}/actions/check-out`,
        }[operationId];
        return {
          method: 'POST',
          path,
          auth: operationId === 'checkOutLicenseById' ? bearer(await seedApiKey(s, ['admin'])) : licenseAuth(key),
          body: { ttl: 3600 },
          // A refused check-out issues nothing, so it records nothing.
          snapshot: count('events'),
        };
      },
    }),
  ),
  {
    operationId: 'createApiKey',
    typo: ['scope', 'scopes'],
    prepare: async (s) => ({
      method: 'POST',
      path: '/api-keys',
      auth: bearer(await seedApiKey(s, ['admin'])),
      body: { name: 'k', scopes: ['machines:read'] },
      snapshot: count('api_keys'),
    }),
  },
  {
    operationId: 'createWebhookEndpoint',
    typo: ['event_types', 'eventTypes'],
    prepare: async (s) => ({
      method: 'POST',
      path: '/webhook-endpoints',
      auth: bearer(await seedApiKey(s, ['admin'])),
      body: { url: 'https://hooks.example.com/licentric' },
      snapshot: count('webhook_endpoints'),
    }),
  },
  {
    operationId: 'updateWebhookEndpoint',
    typo: ['enabeld', 'enabled'],
    prepare: async (s) => {
      const auth = bearer(await seedApiKey(s, ['admin']));
      const created = await fetch(`${s.apiUrl}/webhook-endpoints`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: 'https://hooks.example.com/licentric' }),
      });
      expect(created.status).toBe(201);
      const { data } = (await created.json()) as { data: { id: string } };
      return {
        method: 'PATCH',
        path: `/webhook-endpoints/${data.id}`,
        auth,
        contentType: 'application/merge-patch+json',
        body: { description: 'Billing' },
        snapshot: row('webhook_endpoints', data.id),
      };
    },
  },
  {
    operationId: 'spawnProcess',
    typo: ['pids', 'pid'],
    prepare: async (s) => {
      const { key } = await seedLicense(s);
      const machine = await fetch(`${s.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
        body: JSON.stringify({ fingerprint: `hw-closed-process-${++closed}` }),
      });
      expect(machine.status).toBe(201);
      const { data } = (await machine.json()) as { data: { id: string } };
      return {
        method: 'POST',
        path: `/machines/${data.id}/processes`,
        auth: licenseAuth(key),
        body: { pid: '1' },
        snapshot: count('processes'),
      };
    },
  },
];

async function send(request: Awaited<ReturnType<Case['prepare']>>, body: Record<string, unknown>) {
  return fetch(`${server.apiUrl}${request.path}`, {
    method: request.method,
    headers: { ...request.auth, 'Content-Type': request.contentType ?? 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('closed request bodies', () => {
  it.each(cases)(
    '$operationId refuses an unknown field with its pointer and a suggestion, and writes nothing',
    async (c) => {
      const request = await c.prepare(server);
      const before = await request.snapshot();
      const [typo, meant] = c.typo;
      const response = await send(request, { ...request.body, [typo]: 1, zzUnrelated: true });
      expect(response.status).toBe(400);
      const problem = (await response.json()) as Problem;
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors).toContainEqual({
        pointer: `/${typo}`,
        message: `is not a known field; did you mean "${meant}"?`,
      });
      // Nothing close enough: no guess.
      expect(problem.errors).toContainEqual({ pointer: '/zzUnrelated', message: 'is not a known field' });
      expect(await request.snapshot()).toEqual(before);
    },
  );

  it.each(cases)('$operationId still takes the same body without the unknown field', async (c) => {
    const request = await c.prepare(server);
    const response = await send(request, request.body);
    expect(response.status, await response.clone().text()).toBeLessThan(300);
  });

  it('has a case for every operation of the live spec that takes a request body', async () => {
    const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string; requestBody?: unknown }>>;
    };
    const withBody = Object.values(spec.paths)
      .flatMap((item) => Object.values(item))
      .filter((op) => op.requestBody)
      .map((op) => op.operationId)
      .sort();
    expect(cases.map((c) => c.operationId).sort()).toEqual(withBody);
  });

  it('refuses the unlimited-policy typo of the report: max_machines', async () => {
    const response = await fetch(`${server.apiUrl}/policies`, {
      method: 'POST',
      headers: { ...bearer(await seedApiKey(server, ['admin'])), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'P', max_machines: 3 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).errors).toEqual([
      { pointer: '/max_machines', message: 'is not a known field; did you mean "maxMachines"?' },
    ]);
  });
});

describe('enum errors list the allowed values', () => {
  it('in a body', async () => {
    const { key } = await seedLicense(server);
    const response = await fetch(`${server.apiUrl}/machines`, {
      method: 'POST',
      headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ fingerprint: 'hw-enum-0001', platform: 'beos' }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).errors).toEqual([
      { pointer: '/platform', message: 'must be one of: macos, windows, linux, docker, kubernetes' },
    ]);
  });

  it('in a query parameter', async () => {
    const response = await fetch(`${server.apiUrl}/machines?heartbeatStatus=alive`, {
      headers: bearer(await seedApiKey(server, ['admin'])),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).errors).toEqual([
      { pointer: '/query/heartbeatStatus', message: 'must be one of: NOT_REQUIRED, ALIVE, DEAD' },
    ]);
  });
});
