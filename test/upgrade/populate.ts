/**
 * Fills a running Licentric server through its HTTP API alone (so that any release runs it) and
 * prints, as JSON, the keys it was given and every object as that server answers it. Run by
 * make-fixture.sh against a release's own server: `node populate.ts BASE_URL ADMIN_TOKEN`.
 */

const [base, token] = process.argv.slice(2);
if (!base || !token) throw new Error('usage: node populate.ts BASE_URL ADMIN_TOKEN');

async function call(method: string, path: string, auth: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as { data: unknown }).data;
}

type Row = { id: string; [field: string]: unknown };
const admin = `Bearer ${token}`;
const post = (path: string, body: unknown, auth = admin) => call('POST', path, auth, body) as Promise<Row>;
const get = (path: string, auth = admin) => call('GET', path, auth) as Promise<Row>;

const product = await post('/products', { name: 'Studio', code: 'STUDIO', metadata: { tier: 'pro' } });
await post('/entitlements', { code: 'EXPORT', name: 'Export' });
await post('/entitlements', { code: 'RENDER', name: 'Render' });
// A policy for each limit: two machines of up to 8 cores, two processes, and heartbeats.
const limited = await post('/policies', {
  name: 'Two seats',
  productId: product.id,
  maxMachines: 2,
  maxCores: 8,
  keyPrefix: 'OLD',
  metadata: { plan: 'team' },
});
const processes = await post('/policies', { name: 'Two processes', maxProcesses: 2, processHeartbeatDuration: 600 });
const heartbeats = await post('/policies', {
  name: 'Heartbeats',
  requireHeartbeat: true,
  heartbeatDuration: 3600,
  heartbeatCullStrategy: 'KEEP_DEAD',
  heartbeatResurrectionWindow: 600,
});
await post(`/policies/${limited.id}/entitlements`, { entitlements: ['EXPORT'] });

const licenses: { id: string; key: string }[] = [];
for (const [policy, body] of [
  [limited, { name: 'Acme', expiresAt: '2036-01-01T00:00:00.000Z', metadata: { customer: 'acme' } }],
  [processes, { name: 'Render farm' }],
  [heartbeats, { name: 'Heartbeats' }],
] as const) {
  const made = await post('/licenses', { policyId: policy.id, ...body });
  licenses.push({ id: made.id, key: made.key as string });
}
const [acme, farm, beating] = licenses as [(typeof licenses)[0], (typeof licenses)[0], (typeof licenses)[0]];
await post(`/licenses/${acme.id}/entitlements`, { entitlements: ['RENDER'] });
const machineIds: string[] = [];
for (const [license, body] of [
  [acme, { fingerprint: 'acme-machine-1', name: 'Workstation', platform: 'linux', cores: 4, metadata: { desk: 1 } }],
  [acme, { fingerprint: 'acme-machine-2', cores: 4 }],
  [farm, { fingerprint: 'farm-machine-1' }],
  [beating, { fingerprint: 'beating-machine-1' }],
] as const)
  machineIds.push((await post('/machines', body, `License ${license.key}`)).id);
await call('POST', `/machines/${machineIds[0]}/heartbeat`, `License ${acme.key}`);
const process1 = await post(`/machines/${machineIds[2]}/processes`, { pid: '4242' }, `License ${farm.key}`);
await post(`/licenses/${farm.id}/actions/suspend`, undefined);
await post(`/licenses/${farm.id}/actions/reinstate`, undefined);
const endpoint = await post('/webhook-endpoints', {
  url: 'http://127.0.0.1:9/licentric',
  description: 'billing',
  eventTypes: ['machine.activated', 'license.suspended'],
});
// A machine file signed by the release's signing key.
const file = await post(`/machines/${machineIds[0]}/actions/check-out`, undefined, `License ${acme.key}`);

const list = async (path: string, paged = true) =>
  (await call('GET', paged ? `${path}?limit=100` : path, admin)) as Row[];
process.stdout.write(
  `${JSON.stringify(
    {
      release: process.env.RELEASE_COMMIT,
      secret: process.env.LICENTRIC_SECRET,
      token,
      licenseKeys: Object.fromEntries(licenses.map((l) => [l.id, l.key])),
      webhookSecret: endpoint.secret,
      machineFile: file,
      // Every object as the release answers it.
      products: await list('/products'),
      entitlements: await list('/entitlements'),
      policies: await list('/policies'),
      licenses: await Promise.all(licenses.map((l) => get(`/licenses/${l.id}`))),
      machines: await Promise.all(machineIds.map((id) => get(`/machines/${id}`))),
      processes: [await get(`/processes/${process1.id}`)],
      apiKeys: await list('/api-keys'),
      webhookEndpoints: await list('/webhook-endpoints'),
      signingKeys: await list('/signing-keys', false),
      events: await list('/events'),
      licenseEntitlements: await list(`/licenses/${acme.id}/entitlements`, false),
    },
    null,
    2,
  )}\n`,
);
