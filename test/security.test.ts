import { describe, expect, it } from 'vitest';
import {
  licenseAuth,
  machineBody,
  type Problem,
  seedLicense,
  type TestServer,
  useTestServer,
} from './support/harness.ts';
import {
  freshApiKeyId,
  freshPolicy,
  freshProduct,
  licenseWithMachine,
  type SecuredOperation,
  securityCases,
} from './support/security.ts';

const server = useTestServer();

let entitlements = 0;
/** An entitlement with a code of its own. */
const freshEntitlement = (s: TestServer) =>
  s.services().entitlements.create({ code: `SECURED_${++entitlements}`, name: 'e' });

const json = { 'Content-Type': 'application/json' };
const mergePatch = { 'Content-Type': 'application/merge-patch+json' };

const operations: SecuredOperation[] = [
  {
    name: 'activateMachine',
    accepts: ['License'],
    prepare: async (s) => (headers) =>
      fetch(`${s.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...json, ...headers },
        body: JSON.stringify(machineBody()),
      }),
  },
  {
    name: 'listMachines',
    accepts: ['Bearer'],
    scope: 'machines:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/machines`, { headers }),
  },
  {
    name: 'getMachine',
    accepts: ['Bearer'],
    scope: 'machines:read',
    prepare: async (s) => {
      const { machineId } = await licenseWithMachine(s);
      return (headers) => fetch(`${s.apiUrl}/machines/${machineId}`, { headers });
    },
  },
  {
    name: 'deactivateMachine',
    accepts: ['License', 'Bearer'],
    scope: 'machines:write',
    prepare: async (s) => {
      const { machineId } = await licenseWithMachine(s);
      return (headers) => fetch(`${s.apiUrl}/machines/${machineId}`, { method: 'DELETE', headers });
    },
  },
  {
    name: 'pingMachineHeartbeat',
    accepts: ['License'],
    prepare: async (s) => {
      const { machineId } = await licenseWithMachine(s);
      return (headers) => fetch(`${s.apiUrl}/machines/${machineId}/heartbeat`, { method: 'POST', headers });
    },
  },
  {
    name: 'createPolicy',
    accepts: ['Bearer'],
    scope: 'policies:write',
    prepare: async (s) => (headers) =>
      fetch(`${s.apiUrl}/policies`, { method: 'POST', headers: { ...json, ...headers }, body: '{"name":"p"}' }),
  },
  {
    name: 'listPolicies',
    accepts: ['Bearer'],
    scope: 'policies:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/policies`, { headers }),
  },
  {
    name: 'getPolicy',
    accepts: ['Bearer'],
    scope: 'policies:read',
    prepare: async (s) => {
      const id = await freshPolicy(s);
      return (headers) => fetch(`${s.apiUrl}/policies/${id}`, { headers });
    },
  },
  {
    name: 'updatePolicy',
    accepts: ['Bearer'],
    scope: 'policies:write',
    prepare: async (s) => {
      const id = await freshPolicy(s);
      return (headers) =>
        fetch(`${s.apiUrl}/policies/${id}`, {
          method: 'PATCH',
          headers: { ...mergePatch, ...headers },
          body: '{"maxMachines":2}',
        });
    },
  },
  {
    name: 'deletePolicy',
    accepts: ['Bearer'],
    scope: 'policies:write',
    prepare: async (s) => {
      const id = await freshPolicy(s);
      return (headers) => fetch(`${s.apiUrl}/policies/${id}`, { method: 'DELETE', headers });
    },
  },
  {
    name: 'createProduct',
    accepts: ['Bearer'],
    scope: 'products:write',
    prepare: async (s) => {
      let n = 0;
      return (headers) =>
        fetch(`${s.apiUrl}/products`, {
          method: 'POST',
          headers: { ...json, ...headers },
          body: JSON.stringify({ name: 'p', code: `CREATED_${Date.now()}_${++n}` }),
        });
    },
  },
  {
    name: 'listProducts',
    accepts: ['Bearer'],
    scope: 'products:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/products`, { headers }),
  },
  {
    name: 'getProduct',
    accepts: ['Bearer'],
    scope: 'products:read',
    prepare: async (s) => {
      const id = await freshProduct(s);
      return (headers) => fetch(`${s.apiUrl}/products/${id}`, { headers });
    },
  },
  {
    name: 'updateProduct',
    accepts: ['Bearer'],
    scope: 'products:write',
    prepare: async (s) => {
      const id = await freshProduct(s);
      return (headers) =>
        fetch(`${s.apiUrl}/products/${id}`, {
          method: 'PATCH',
          headers: { ...mergePatch, ...headers },
          body: '{"name":"renamed"}',
        });
    },
  },
  {
    name: 'deleteProduct',
    accepts: ['Bearer'],
    scope: 'products:write',
    prepare: async (s) => {
      const id = await freshProduct(s);
      return (headers) => fetch(`${s.apiUrl}/products/${id}`, { method: 'DELETE', headers });
    },
  },
  {
    name: 'createEntitlement',
    accepts: ['Bearer'],
    scope: 'entitlements:write',
    prepare: async (s) => (headers) =>
      fetch(`${s.apiUrl}/entitlements`, {
        method: 'POST',
        headers: { ...json, ...headers },
        body: JSON.stringify({ code: `SEC_${Math.random().toString(36).slice(2, 10).toUpperCase()}`, name: 'e' }),
      }),
  },
  {
    name: 'listEntitlements',
    accepts: ['Bearer'],
    scope: 'entitlements:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/entitlements`, { headers }),
  },
  ...(
    [
      ['getEntitlement', 'entitlements:read', 'GET', undefined],
      ['updateEntitlement', 'entitlements:write', 'PATCH', '{"name":"renamed"}'],
      ['deleteEntitlement', 'entitlements:write', 'DELETE', undefined],
    ] as const
  ).map(
    ([name, scope, method, body]): SecuredOperation => ({
      name,
      accepts: ['Bearer'],
      scope,
      prepare: async (s) => {
        const { id } = await freshEntitlement(s);
        return (headers) =>
          fetch(`${s.apiUrl}/entitlements/${id}`, {
            method,
            headers: body === undefined ? headers : { ...mergePatch, ...headers },
            body,
          });
      },
    }),
  ),
  ...(
    [
      ['listPolicyEntitlements', 'policies:read', 'GET', 'policies'],
      ['attachPolicyEntitlements', 'policies:write', 'POST', 'policies'],
      ['detachPolicyEntitlements', 'policies:write', 'DELETE', 'policies'],
      ['listLicenseEntitlements', 'licenses:read', 'GET', 'licenses'],
      ['attachLicenseEntitlements', 'licenses:write', 'POST', 'licenses'],
      ['detachLicenseEntitlements', 'licenses:write', 'DELETE', 'licenses'],
    ] as const
  ).map(
    ([name, scope, method, owner]): SecuredOperation => ({
      name,
      accepts: ['Bearer'],
      scope,
      prepare: async (s) => {
        const { policyId, licenseId } = await seedLicense(s);
        const { code } = await freshEntitlement(s);
        const id = owner === 'policies' ? policyId : licenseId;
        return (headers) =>
          fetch(`${s.apiUrl}/${owner}/${id}/entitlements`, {
            method,
            headers: method === 'GET' ? headers : { ...json, ...headers },
            body: method === 'GET' ? undefined : JSON.stringify({ entitlements: [code] }),
          });
      },
    }),
  ),
  {
    name: 'createLicense',
    accepts: ['Bearer'],
    scope: 'licenses:write',
    prepare: async (s) => {
      const policyId = await freshPolicy(s);
      return (headers) =>
        fetch(`${s.apiUrl}/licenses`, {
          method: 'POST',
          headers: { ...json, ...headers },
          body: JSON.stringify({ policyId }),
        });
    },
  },
  {
    name: 'listLicenses',
    accepts: ['Bearer'],
    scope: 'licenses:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/licenses`, { headers }),
  },
  ...(
    [
      ['getLicense', 'licenses:read', 'GET', ''],
      ['suspendLicense', 'licenses:write', 'POST', '/actions/suspend'],
      ['reinstateLicense', 'licenses:write', 'POST', '/actions/reinstate'],
      ['deleteLicense', 'licenses:write', 'DELETE', ''],
    ] as const
  ).map(
    ([name, scope, method, suffix]): SecuredOperation => ({
      name,
      accepts: ['Bearer'],
      scope,
      prepare: async (s) => {
        const { licenseId } = await seedLicense(s);
        return (headers) => fetch(`${s.apiUrl}/licenses/${licenseId}${suffix}`, { method, headers });
      },
    }),
  ),
  {
    name: 'renewLicense',
    accepts: ['Bearer'],
    scope: 'licenses:write',
    prepare: async (s) => {
      // A renewal needs a policy with a duration to succeed.
      const services = s.services();
      const policy = await services.policies.create({ name: 'renewable', duration: 86_400 });
      const { license } = await services.licenses.create({ policyId: policy.id });
      return (headers) => fetch(`${s.apiUrl}/licenses/${license.id}/actions/renew`, { method: 'POST', headers });
    },
  },
  {
    name: 'updateLicense',
    accepts: ['Bearer'],
    scope: 'licenses:write',
    prepare: async (s) => {
      const { licenseId } = await seedLicense(s);
      return (headers) =>
        fetch(`${s.apiUrl}/licenses/${licenseId}`, {
          method: 'PATCH',
          headers: { ...mergePatch, ...headers },
          body: '{"name":"n"}',
        });
    },
  },
  {
    name: 'validateLicense',
    accepts: ['License'],
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/licenses/actions/validate`, { method: 'POST', headers }),
  },
  {
    name: 'createApiKey',
    accepts: ['Bearer'],
    scope: 'admin',
    prepare: async (s) => (headers) =>
      fetch(`${s.apiUrl}/api-keys`, {
        method: 'POST',
        headers: { ...json, ...headers },
        body: '{"name":"k","scopes":["machines:read"]}',
      }),
  },
  {
    name: 'listApiKeys',
    accepts: ['Bearer'],
    scope: 'admin',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/api-keys`, { headers }),
  },
  {
    name: 'getApiKey',
    accepts: ['Bearer'],
    scope: 'admin',
    prepare: async (s) => {
      const id = await freshApiKeyId(s);
      return (headers) => fetch(`${s.apiUrl}/api-keys/${id}`, { headers });
    },
  },
  {
    name: 'revokeApiKey',
    accepts: ['Bearer'],
    scope: 'admin',
    prepare: async (s) => {
      const id = await freshApiKeyId(s);
      return (headers) => fetch(`${s.apiUrl}/api-keys/${id}`, { method: 'DELETE', headers });
    },
  },
  {
    name: 'listEvents',
    accepts: ['Bearer'],
    scope: 'events:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/events`, { headers }),
  },
  {
    name: 'getEvent',
    accepts: ['Bearer'],
    scope: 'events:read',
    prepare: async (s) => {
      await freshPolicy(s);
      const [event] = await s.sql<{ id: string }>('select max(id)::text as id from events');
      return (headers) => fetch(`${s.apiUrl}/events/${event!.id}`, { headers });
    },
  },
  {
    name: 'createWebhookEndpoint',
    accepts: ['Bearer'],
    scope: 'webhooks:write',
    prepare: async (s) => (headers) =>
      fetch(`${s.apiUrl}/webhook-endpoints`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: 'https://example.com/hook' }),
      }),
  },
  {
    name: 'listWebhookEndpoints',
    accepts: ['Bearer'],
    scope: 'webhooks:write',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/webhook-endpoints`, { headers }),
  },
  ...(
    [
      ['getWebhookEndpoint', 'GET', ''],
      ['updateWebhookEndpoint', 'PATCH', ''],
      ['deleteWebhookEndpoint', 'DELETE', ''],
      ['rotateWebhookEndpointSecret', 'POST', '/actions/rotate-secret'],
      ['sendWebhookEndpointTest', 'POST', '/actions/send-test'],
      ['listWebhookDeliveries', 'GET', '/deliveries'],
      ['redeliverWebhookDelivery', 'POST', '/deliveries/01a21f9e-0a3b-7c55-8d2e-4f6a8b0c2d3e/actions/redeliver'],
    ] as const
  ).map(
    ([name, method, suffix]): SecuredOperation => ({
      name,
      accepts: ['Bearer'],
      scope: 'webhooks:write',
      prepare: async (s) => {
        const { endpoint } = await s.services().webhookEndpoints.create({ url: 'https://example.com/hook' });
        if (name === 'redeliverWebhookDelivery')
          await oneDelivery(s, endpoint.id, '01a21f9e-0a3b-7c55-8d2e-4f6a8b0c2d3e');
        const body = method === 'PATCH' ? { body: '{}', contentType: 'application/merge-patch+json' } : undefined;
        return (headers) =>
          fetch(`${s.apiUrl}/webhook-endpoints/${endpoint.id}${suffix}`, {
            method,
            headers: body ? { ...headers, 'Content-Type': body.contentType } : headers,
            body: body?.body,
          });
      },
    }),
  ),
];

/** A failed attempt at a message to the endpoint, as the delivery engine records one. */
async function oneDelivery(s: TestServer, endpointId: string, attemptId: string): Promise<void> {
  const [message] = await s.sql<{ id: string }>(
    `insert into webhook_messages (id, endpoint_id, type, payload, created_at, attempts)
     values (gen_random_uuid(), $1, 'webhook-endpoint.test', '{}', now(), 1) returning id`,
    [endpointId],
  );
  await s.sql(
    `insert into webhook_attempts (id, message_id, endpoint_id, attempt, attempted_at, succeeded, latency_ms)
     values ($1, $2, $3, 1, now(), false, 1) on conflict (id) do update set message_id = excluded.message_id, endpoint_id = excluded.endpoint_id`,
    [attemptId, message!.id, endpointId],
  );
}

operations.push(
  {
    name: 'checkOutMachine',
    accepts: ['License', 'Bearer'],
    scope: 'machines:read',
    prepare: async (s) => {
      const { machineId } = await licenseWithMachine(s);
      return (headers) => fetch(`${s.apiUrl}/machines/${machineId}/actions/check-out`, { method: 'POST', headers });
    },
  },
  {
    name: 'checkOutLicense',
    accepts: ['License'],
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/licenses/actions/check-out`, { method: 'POST', headers }),
  },
  {
    name: 'checkOutLicenseById',
    accepts: ['Bearer'],
    scope: 'licenses:read',
    prepare: async (s) => {
      const { licenseId } = await seedLicense(s);
      return (headers) => fetch(`${s.apiUrl}/licenses/${licenseId}/actions/check-out`, { method: 'POST', headers });
    },
  },
);

/** A process spawned on a fresh machine, and the license key that holds it. */
async function spawned(s: TestServer): Promise<{ processId: string; key: string; machineId: string }> {
  const { machineId, key } = await licenseWithMachine(s);
  const answer = await fetch(`${s.apiUrl}/machines/${machineId}/processes`, {
    method: 'POST',
    headers: { ...json, Authorization: `License ${key}` },
    body: '{}',
  });
  expect(answer.status).toBe(201);
  const { data } = (await answer.json()) as { data: { id: string } };
  return { processId: data.id, key, machineId };
}

operations.push(
  {
    name: 'spawnProcess',
    accepts: ['License'],
    prepare: async (s) => {
      const { machineId } = await licenseWithMachine(s);
      return (headers) =>
        fetch(`${s.apiUrl}/machines/${machineId}/processes`, {
          method: 'POST',
          headers: { ...json, ...headers },
          body: '{}',
        });
    },
  },
  {
    name: 'processHeartbeat',
    accepts: ['License'],
    prepare: async (s) => {
      const { processId } = await spawned(s);
      return (headers) => fetch(`${s.apiUrl}/processes/${processId}/heartbeat`, { method: 'POST', headers });
    },
  },
  {
    name: 'releaseProcess',
    accepts: ['License', 'Bearer'],
    scope: 'machines:write',
    prepare: async (s) => {
      const { processId } = await spawned(s);
      return (headers) => fetch(`${s.apiUrl}/processes/${processId}`, { method: 'DELETE', headers });
    },
  },
  {
    name: 'listProcesses',
    accepts: ['Bearer'],
    scope: 'machines:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/processes`, { headers }),
  },
  {
    name: 'getProcess',
    accepts: ['Bearer'],
    scope: 'machines:read',
    prepare: async (s) => {
      const { processId } = await spawned(s);
      return (headers) => fetch(`${s.apiUrl}/processes/${processId}`, { headers });
    },
  },
);

/** The id of the active signing key, after a rotation made it. */
async function rotatedKey(s: TestServer): Promise<string> {
  return (await s.services().signingKeys.rotate()).id;
}

operations.push(
  {
    name: 'listSigningKeys',
    accepts: [],
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/signing-keys`, { headers }),
  },
  {
    name: 'rotateSigningKey',
    accepts: ['Bearer'],
    scope: 'signing-keys:write',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/signing-keys/actions/rotate`, { method: 'POST', headers }),
  },
  {
    name: 'retireSigningKey',
    accepts: ['Bearer'],
    scope: 'signing-keys:write',
    prepare: async (s) => {
      const id = await rotatedKey(s);
      return (headers) => fetch(`${s.apiUrl}/signing-keys/${id}/actions/retire`, { method: 'POST', headers });
    },
  },
  {
    name: 'revokeSigningKey',
    accepts: ['Bearer'],
    scope: 'signing-keys:write',
    prepare: async (s) => {
      const id = await rotatedKey(s);
      await rotatedKey(s);
      return (headers) => fetch(`${s.apiUrl}/signing-keys/${id}/actions/revoke`, { method: 'POST', headers });
    },
  },
);

operations.push(
  {
    name: 'getCurrentApiKey',
    accepts: ['Bearer'],
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/api-keys/current`, { headers }),
  },
  {
    name: 'lookupLicense',
    accepts: ['Bearer'],
    scope: 'licenses:read',
    prepare: async (s) => {
      const { key } = await seedLicense(s);
      return (headers) =>
        fetch(`${s.apiUrl}/licenses/actions/lookup`, {
          method: 'POST',
          headers: { ...json, ...headers },
          body: JSON.stringify({ key }),
        });
    },
  },
  {
    name: 'listMachineReviewQueue',
    accepts: ['Bearer'],
    scope: 'machines:read',
    prepare: async (s) => (headers) => fetch(`${s.apiUrl}/machines/review-queue`, { headers }),
  },
);

describe('security, for every operation', () => {
  it('covers every operation of the spec', async () => {
    const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const all = Object.values(spec.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(operations.map((o) => o.name).sort()).toEqual(all.sort());
  });

  for (const op of operations) describe(op.name, () => securityCases(server, op));
});

describe('a license key reaches only its own license', () => {
  it("cannot heartbeat or deactivate another license's machine, and learns nothing about it", async () => {
    const victim = await licenseWithMachine(server);
    const attacker = await seedLicense(server);
    const missingId = '01a21b05-0000-7000-8000-000000000000';
    for (const [method, path] of [
      ['POST', `/machines/${victim.machineId}/heartbeat`],
      ['DELETE', `/machines/${victim.machineId}`],
    ] as const) {
      const real = await fetch(`${server.apiUrl}${path}`, { method, headers: licenseAuth(attacker.key) });
      const fake = await fetch(`${server.apiUrl}${path.replace(victim.machineId, missingId)}`, {
        method,
        headers: licenseAuth(attacker.key),
      });
      expect(real.status).toBe(404);
      expect(fake.status).toBe(404);
      const [a, b] = [(await real.json()) as Problem, (await fake.json()) as Problem];
      expect(a.code).toBe(b.code);
      expect(a.title).toBe(b.title);
    }
    const [row] = await server.sql('select deleted_at from machines where id = $1', [victim.machineId]);
    expect(row).toEqual({ deleted_at: null });
  });

  it('cannot list or read machines at all', async () => {
    const { key } = await licenseWithMachine(server);
    expect((await fetch(`${server.apiUrl}/machines`, { headers: licenseAuth(key) })).status).toBe(401);
  });
});

describe('credentials are checked before the request is validated', () => {
  it('an unauthenticated, invalid request gets 401, not 400', async () => {
    const response = await fetch(`${server.apiUrl}/machines`, {
      method: 'POST',
      headers: json,
      body: '{"fingerprint": 1}',
    });
    expect(response.status).toBe(401);
    const list = await fetch(`${server.apiUrl}/machines?limit=1000`);
    expect(list.status).toBe(401);
  });
});
