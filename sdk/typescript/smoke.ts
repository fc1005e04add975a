// The SDK smoke flow in TypeScript: openapi-fetch typed by generated/api.d.ts, the client the
// tests use too. Run by `make sdk-check` against a live server (see sdk/run-smoke.sh).
import { randomBytes } from 'node:crypto';
import createClient from 'openapi-fetch';
import type { components, paths } from '../../generated/api.d.ts';

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
console.log('typescript smoke: ok');
