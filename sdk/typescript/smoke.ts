// The SDK smoke flow in TypeScript: openapi-fetch typed by generated/api.d.ts, the client the
// tests use too. Run by `make sdk-check` against a live server (see sdk/run-smoke.sh).
import { randomBytes } from 'node:crypto';
import createClient from 'openapi-fetch';
import type { components, paths } from '../../generated/api.d.ts';
import { offlineMachineFile } from './offline.ts';
import { signedValidation } from './signed.ts';

type Problem = components['schemas']['Problem'];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`smoke check failed: ${message}`);
}

const client = createClient<paths>({ baseUrl: env('LICENTRIC_BASE_URL') });
const asLicense = { Authorization: `License ${env('LICENTRIC_LICENSE_KEY')}` };
const asApiKey = { Authorization: `Bearer ${env('LICENTRIC_API_KEY')}` };
const fingerprint = `sdk-typescript-${randomBytes(6).toString('hex')}`;

const activated = await client.POST('/machines', {
  headers: asLicense,
  body: { fingerprint, name: 'TypeScript smoke', platform: 'linux', cores: 4 },
});
check(activated.data !== undefined, `activate: ${JSON.stringify(activated.error)}`);
const machine = activated.data.data;
check(machine.fingerprint === fingerprint && machine.deletedAt === null, 'activate returns the active machine');
console.log(`activated ${machine.id}`);

const ping = await client.POST('/machines/{id}/heartbeat', {
  headers: asLicense,
  params: { path: { id: machine.id } },
});
check(ping.data?.data.id === machine.id, `heartbeat: ${JSON.stringify(ping.error)}`);
console.log(`heartbeat at ${ping.data.data.lastHeartbeatAt}`);

const listed = await client.GET('/machines', {
  headers: asApiKey,
  params: { query: { licenseId: machine.licenseId, limit: 100 } },
});
check(listed.data !== undefined, `list: ${JSON.stringify(listed.error)}`);
check(
  listed.data.data.some((m) => m.id === machine.id),
  'list shows the machine',
);
console.log(`listed ${listed.data.data.length} machine(s)`);

const deactivated = await client.DELETE('/machines/{id}', { headers: asLicense, params: { path: { id: machine.id } } });
check(deactivated.data?.data.deleted === true, `deactivate: ${JSON.stringify(deactivated.error)}`);
console.log(`deactivated ${machine.id}`);

const events = await client.GET('/events', {
  headers: asApiKey,
  params: { query: { machineId: machine.id, limit: 100 } },
});
check(events.data !== undefined, `events: ${JSON.stringify(events.error)}`);
const types = events.data.data.map((e) => e.type);
check(
  JSON.stringify(types) === JSON.stringify(['machine.activated', 'machine.deactivated']),
  `the machine's events are ${types}`,
);
check(events.data.data[1]!.data.reason === 'MANUAL', 'the deactivation says why');
console.log(`events: ${types.join(', ')}`);

const again = await client.POST('/machines', { headers: asLicense, body: { fingerprint } });
check(again.data !== undefined, `re-activate: ${JSON.stringify(again.error)}`);
const twice = await client.POST('/machines', { headers: asLicense, body: { fingerprint } });
check(
  twice.response.status === 409 && twice.error !== undefined,
  `second activation must be 409, got ${twice.response.status}`,
);
const problem: Problem = twice.error;
check(problem.code === 'FINGERPRINT_TAKEN', `code is ${problem.code}`);
check(problem.machineId === again.data.data.id, 'the problem names the machine holding the fingerprint');
console.log(`second activation refused: ${problem.code} (machine ${problem.machineId})`);

await client.DELETE('/machines/{id}', { headers: asLicense, params: { path: { id: again.data.data.id } } });

// Products and entitlements: a license of a product's policy, validated for its product and features.
// Codes are unique per server, so each run makes its own.
const suffix = randomBytes(4).toString('hex').toUpperCase();
const createdProduct = await client.POST('/products', {
  headers: asApiKey,
  body: { name: 'TypeScript smoke', code: `SDK_TS_${suffix}` },
});
check(createdProduct.data !== undefined, `create product: ${JSON.stringify(createdProduct.error)}`);
const product = createdProduct.data.data;
console.log(`created product ${product.code}`);

const createdEntitlement = await client.POST('/entitlements', {
  headers: asApiKey,
  body: { code: `SDK_TS_EXPORT_${suffix}`, name: 'TypeScript smoke export' },
});
check(createdEntitlement.data !== undefined, `create entitlement: ${JSON.stringify(createdEntitlement.error)}`);
const entitlement = createdEntitlement.data.data;
console.log(`created entitlement ${entitlement.code}`);

const createdPolicy = await client.POST('/policies', {
  headers: asApiKey,
  body: { name: 'TypeScript smoke', productId: product.id },
});
check(createdPolicy.data !== undefined, `create policy: ${JSON.stringify(createdPolicy.error)}`);
const policy = createdPolicy.data.data;
check(policy.productId === product.id, 'the policy belongs to the product');
const attached = await client.POST('/policies/{id}/entitlements', {
  headers: asApiKey,
  params: { path: { id: policy.id } },
  body: { entitlements: [entitlement.code] },
});
check(attached.data !== undefined, `attach: ${JSON.stringify(attached.error)}`);
const policyEntitlements = await client.GET('/policies/{id}/entitlements', {
  headers: asApiKey,
  params: { path: { id: policy.id } },
});
check(
  JSON.stringify(policyEntitlements.data?.data.map((e) => e.code)) === JSON.stringify([entitlement.code]),
  `the policy's entitlements: ${JSON.stringify(policyEntitlements.data ?? policyEntitlements.error)}`,
);
console.log(`policy ${policy.id} grants ${entitlement.code}`);

const createdLicense = await client.POST('/licenses', { headers: asApiKey, body: { policyId: policy.id } });
check(createdLicense.data !== undefined, `create license: ${JSON.stringify(createdLicense.error)}`);
const license = createdLicense.data.data;
check(license.productId === product.id, 'the license says which product');
const asProductLicense = { Authorization: `License ${license.key}` };
console.log(`created license ${license.id}`);

const entitled = await client.POST('/licenses/actions/validate', {
  headers: asProductLicense,
  body: { product: product.code, entitlements: [entitlement.code] },
});
check(entitled.data !== undefined, `validate: ${JSON.stringify(entitled.error)}`);
check(
  entitled.data.data.valid && entitled.data.data.code === 'VALID',
  `validate for the product and its entitlement: ${entitled.data.data.code}`,
);
check(entitled.data.data.entitlements.includes(entitlement.code), 'validate lists the entitlement');
console.log(`validated: ${entitled.data.data.code} with ${entitled.data.data.entitlements.join(', ')}`);

const lacking = `SDK_TS_ABSENT_${suffix}`;
const missing = await client.POST('/licenses/actions/validate', {
  headers: asProductLicense,
  body: { product: product.code, entitlements: [entitlement.code, lacking] },
});
check(missing.data !== undefined, `validate: ${JSON.stringify(missing.error)}`);
check(
  !missing.data.data.valid && missing.data.data.code === 'ENTITLEMENTS_MISSING',
  `validate for a lacking entitlement: ${missing.data.data.code}`,
);
check(
  JSON.stringify(missing.data.data.missingEntitlements) === JSON.stringify([lacking]),
  `missing entitlements are ${missing.data.data.missingEntitlements}`,
);
console.log(`validated: ${missing.data.data.code} (${missing.data.data.missingEntitlements.join(', ')})`);

const elsewhere = await client.POST('/licenses/actions/validate', {
  headers: asProductLicense,
  body: { product: `SDK_TS_OTHER_${suffix}` },
});
check(elsewhere.data !== undefined, `validate: ${JSON.stringify(elsewhere.error)}`);
check(
  !elsewhere.data.data.valid && elsewhere.data.data.code === 'PRODUCT_SCOPE_MISMATCH',
  `validate for another product: ${elsewhere.data.data.code}`,
);
console.log(`validated for another product: ${elsewhere.data.data.code}`);

const detached = await client.DELETE('/policies/{id}/entitlements', {
  headers: asApiKey,
  params: { path: { id: policy.id } },
  body: { entitlements: [entitlement.code] },
});
check(detached.data?.data.length === 0, `detach: ${JSON.stringify(detached.data ?? detached.error)}`);
// In this order: a policy with licenses, or a product with policies, is refused (409).
const licenseDeleted = await client.DELETE('/licenses/{id}', {
  headers: asApiKey,
  params: { path: { id: license.id } },
});
check(licenseDeleted.data?.data.deleted === true, `delete license: ${JSON.stringify(licenseDeleted.error)}`);
const policyDeleted = await client.DELETE('/policies/{id}', { headers: asApiKey, params: { path: { id: policy.id } } });
check(policyDeleted.data?.data.deleted === true, `delete policy: ${JSON.stringify(policyDeleted.error)}`);
const productDeleted = await client.DELETE('/products/{id}', {
  headers: asApiKey,
  params: { path: { id: product.id } },
});
check(productDeleted.data?.data.deleted === true, `delete product: ${JSON.stringify(productDeleted.error)}`);
const entitlementDeleted = await client.DELETE('/entitlements/{id}', {
  headers: asApiKey,
  params: { path: { id: entitlement.id } },
});
check(
  entitlementDeleted.data?.data.deleted === true,
  `delete entitlement: ${JSON.stringify(entitlementDeleted.error)}`,
);
const gone = await client.GET('/products/{id}', { headers: asApiKey, params: { path: { id: product.id } } });
check(gone.response.status === 404, `a deleted product must be 404, got ${gone.response.status}`);
console.log('deleted the license, the policy, the product and the entitlement');

// A machine file checked out, saved and verified offline with node:crypto alone (offline.ts).
await offlineMachineFile(client, env('LICENTRIC_LICENSE_KEY'));
// An answer signed for this request (RFC 9421), so a fake server's recorded "valid" is useless.
await signedValidation(client, env('LICENTRIC_LICENSE_KEY'));

await processesFlow();
console.log('typescript smoke: ok');

/**
 * Processes (concurrent seats): a license with one floating seat spawns a process, is refused a
 * second, keeps the first alive, releases it, and the seat is free at once.
 */
async function processesFlow(): Promise<void> {
  const created = await client.POST('/policies', {
    headers: asApiKey,
    body: { name: 'TypeScript smoke seats', maxProcesses: 1, processLeasingStrategy: 'PER_LICENSE' },
  });
  check(created.data !== undefined, `create policy: ${JSON.stringify(created.error)}`);
  const seats = created.data.data;
  check(seats.maxProcesses === 1 && seats.processLeasingStrategy === 'PER_LICENSE', 'the policy has one seat');
  const issued = await client.POST('/licenses', { headers: asApiKey, body: { policyId: seats.id } });
  check(issued.data !== undefined, `create license: ${JSON.stringify(issued.error)}`);
  const asSeatLicense = { Authorization: `License ${issued.data.data.key}` };
  const node = await client.POST('/machines', {
    headers: asSeatLicense,
    body: { fingerprint: `sdk-typescript-node-${randomBytes(6).toString('hex')}` },
  });
  check(node.data !== undefined, `activate: ${JSON.stringify(node.error)}`);
  const machineId = node.data.data.id;

  const spawn = () =>
    client.POST('/machines/{id}/processes', {
      headers: asSeatLicense,
      params: { path: { id: machineId } },
      body: { pid: 'typescript-smoke' },
    });
  const first = await spawn();
  check(first.data !== undefined, `spawn: ${JSON.stringify(first.error)}`);
  const lease = first.data.data;
  check(lease.machineId === machineId && lease.heartbeatStatus === 'ALIVE', 'spawn returns the live process');
  console.log(`spawned process ${lease.id}`);
  const second = await spawn();
  check(
    second.response.status === 422 && second.error?.code === 'PROCESS_LIMIT_EXCEEDED',
    `a second spawn must be 422 PROCESS_LIMIT_EXCEEDED, got ${second.response.status}`,
  );
  check(second.error.processCount === 1, 'the refusal says how many hold the seats');
  console.log(`second spawn refused: ${second.error.code} (${second.error.processCount} held)`);

  const beat = await client.POST('/processes/{id}/heartbeat', {
    headers: asSeatLicense,
    params: { path: { id: lease.id } },
  });
  check(beat.data?.data.heartbeatStatus === 'ALIVE', `process heartbeat: ${JSON.stringify(beat.error)}`);
  console.log(`process heartbeat, lease until ${beat.data.data.nextHeartbeatAt}`);
  const released = await client.DELETE('/processes/{id}', {
    headers: asSeatLicense,
    params: { path: { id: lease.id } },
  });
  check(released.data?.data.deleted === true, `release: ${JSON.stringify(released.error)}`);
  const again = await spawn();
  check(again.data !== undefined, `the released seat is free at once: ${JSON.stringify(again.error)}`);
  console.log(`released ${lease.id}; spawned ${again.data.data.id} in its seat`);

  // Deactivating the machine releases its process; then the license and the policy can go.
  await client.DELETE('/machines/{id}', { headers: asSeatLicense, params: { path: { id: machineId } } });
  const gone = await client.GET('/processes/{id}', {
    headers: asApiKey,
    params: { path: { id: again.data.data.id } },
  });
  check(gone.response.status === 404, `a deactivated machine's process must be 404, got ${gone.response.status}`);
  await client.DELETE('/licenses/{id}', { headers: asApiKey, params: { path: { id: issued.data.data.id } } });
  await client.DELETE('/policies/{id}', { headers: asApiKey, params: { path: { id: seats.id } } });
  console.log('processes: spawned, refused past the limit, kept alive, released');
}
