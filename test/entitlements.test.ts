import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import {
  activate,
  licenseAuth,
  type Problem,
  patch,
  type SeededLicense,
  seedPolicyAndLicense,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';

type Validation = components['schemas']['LicenseValidation'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const readOnly = useApiKey(server, ['entitlements:read']);
const policyWriter = useApiKey(server, ['policies:write', 'policies:read']);

let seq = 0;
/** A fresh, unique code: every test makes its own entitlements on the file's one database. */
const code = (stem: string) => `${stem}_${++seq}`;

async function createEntitlement(entitlementCode: string, name = 'A feature') {
  const { response, data, error } = await server.client.POST('/entitlements', {
    headers: admin,
    body: { code: entitlementCode, name },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

function license(): Promise<SeededLicense> {
  return seedPolicyAndLicense(server, admin, { name: 'Pro' });
}

async function attachToPolicy(policyId: string, entitlements: string[], headers = admin) {
  return server.client.POST('/policies/{id}/entitlements', {
    headers,
    params: { path: { id: policyId } },
    body: { entitlements },
  });
}

async function attachToLicense(licenseId: string, entitlements: string[]) {
  return server.client.POST('/licenses/{id}/entitlements', {
    headers: admin,
    params: { path: { id: licenseId } },
    body: { entitlements },
  });
}

async function validate(key: string, body: components['schemas']['ValidateLicenseRequest'] = {}): Promise<Validation> {
  const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body,
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

async function eventsOf(type: string, column: 'policy' | 'license' | 'entitlement', id: string) {
  return server.sql<{ data: Record<string, unknown> }>(
    `select data from events where type = $1 and data->'${column}'->>'id' = $2 order by id`,
    [type, id],
  );
}

describe('entitlements', () => {
  it('creates, reads, lists, patches and deletes an entitlement, each with its event', async () => {
    server.clock.set('2026-03-01T10:00:00.000Z');
    const c = code('PRO_EXPORT');
    const created = await createEntitlement(c, 'Export');
    expect(created).toEqual({
      id: expect.any(String),
      code: c,
      name: 'Export',
      metadata: {},
      createdAt: '2026-03-01T10:00:00.000Z',
      updatedAt: '2026-03-01T10:00:00.000Z',
    });
    const got = await server.client.GET('/entitlements/{id}', {
      headers: readOnly,
      params: { path: { id: created.id } },
    });
    expect(got.data!.data).toEqual(created);

    server.clock.set('2026-03-01T11:00:00.000Z');
    const patched = await patch(server, admin, '/entitlements/{id}', created.id, {
      name: 'Export all',
      metadata: { a: 1 },
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { data: unknown }).data).toMatchObject({
      code: c,
      name: 'Export all',
      metadata: { a: 1 },
      updatedAt: '2026-03-01T11:00:00.000Z',
    });

    const deleted = await server.client.DELETE('/entitlements/{id}', {
      headers: admin,
      params: { path: { id: created.id } },
    });
    expect(deleted.data).toEqual({ data: { id: created.id, deleted: true } });
    const gone = await server.client.GET('/entitlements/{id}', {
      headers: admin,
      params: { path: { id: created.id } },
    });
    expect(gone.response.status).toBe(404);
    expect((gone.error as Problem).code).toBe('ENTITLEMENT_NOT_FOUND');

    expect(await eventsOf('entitlement.created', 'entitlement', created.id)).toHaveLength(1);
    expect(await eventsOf('entitlement.updated', 'entitlement', created.id)).toHaveLength(1);
    const [deletion] = await eventsOf('entitlement.deleted', 'entitlement', created.id);
    expect(deletion!.data.entitlement).toMatchObject({ code: c, name: 'Export all' });
  });

  it('lists entitlements in keyset pages, oldest first', async () => {
    const made: { id: string }[] = [];
    for (let i = 0; i < 3; i++) made.push(await createEntitlement(code('PAGED')));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const { data } = await server.client.GET('/entitlements', {
        headers: readOnly,
        params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } },
      });
      seen.push(...data!.data.map((e) => e.id));
      if (!data!.pagination.hasMore) break;
      cursor = data!.pagination.nextCursor!;
    }
    expect(seen.filter((id) => made.some((e) => e.id === id))).toEqual(made.map((e) => e.id));
    expect([...seen].sort()).toEqual(seen);
  });

  it.each([
    ['lower case', { code: 'pro_export', name: 'x' }, '/code'],
    ['a leading digit', { code: '1PRO', name: 'x' }, '/code'],
    ['a hyphen', { code: 'PRO-EXPORT', name: 'x' }, '/code'],
    ['65 characters', { code: `P${'X'.repeat(64)}`, name: 'x' }, '/code'],
    ['no name', { code: 'PRO' }, '/name'],
    ['an unknown field', { code: 'PRO', name: 'x', tier: 'pro' }, '/tier'],
  ])('refuses a code with %s (400, nothing written)', async (_, body, pointer) => {
    const before = await server.sql<{ n: number }>('select count(*)::int as n from entitlements');
    const response = await fetch(`${server.apiUrl}/entitlements`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
    expect(await server.sql('select count(*)::int as n from entitlements')).toEqual(before);
  });

  it('gives a code to one of 50 racing creations; the others are 409 ENTITLEMENT_CODE_TAKEN', async () => {
    const c = code('RACED');
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`${server.apiUrl}/entitlements`, {
          method: 'POST',
          headers: { ...admin, 'Content-Type': 'application/json' },
          body: JSON.stringify({ code: c, name: 'Raced' }),
        }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const problem = (await responses.find((r) => r.status === 409)!.json()) as Problem;
    expect(problem.code).toBe('ENTITLEMENT_CODE_TAKEN');
    expect(await server.sql('select id from entitlements where code = $1', [c])).toHaveLength(1);
    const [{ n }] = (await server.sql<{ n: number }>(
      "select count(*)::int as n from events where type = 'entitlement.created' and data->'entitlement'->>'code' = $1",
      [c],
    )) as [{ n: number }];
    expect(n).toBe(1);
  });

  it('refuses renaming a code to a taken one with 409', async () => {
    const a = await createEntitlement(code('TAKEN_A'));
    const b = await createEntitlement(code('TAKEN_B'));
    const response = await patch(server, admin, '/entitlements/{id}', b.id, { code: a.code });
    expect(response.status).toBe(409);
    expect(((await response.json()) as Problem).code).toBe('ENTITLEMENT_CODE_TAKEN');
  });

  it('needs entitlements:write to change and entitlements:read to read', async () => {
    const refused = await server.client.POST('/entitlements', {
      headers: readOnly,
      body: { code: code('X'), name: 'x' },
    });
    expect(refused.response.status).toBe(403);
    expect((refused.error as Problem).code).toBe('INSUFFICIENT_SCOPE');
    const list = await server.client.GET('/entitlements', { headers: policyWriter });
    expect(list.response.status).toBe(403);
  });
});

describe('attaching and detaching', () => {
  it('attaches to a policy by code and by id, once however often, and lists them by code', async () => {
    const l = await license();
    const b = await createEntitlement(code('B_FEATURE'));
    const a = await createEntitlement(code('A_FEATURE'));
    const first = await attachToPolicy(l.policyId, [b.code, a.id, b.id], policyWriter);
    expect(first.response.status, JSON.stringify(first.error)).toBe(200);
    expect(first.data!.data.map((e) => e.code)).toEqual([a.code, b.code]);
    const again = await attachToPolicy(l.policyId, [a.code, b.code], policyWriter);
    expect(again.data!.data.map((e) => e.code)).toEqual([a.code, b.code]);
    const listed = await server.client.GET('/policies/{id}/entitlements', {
      headers: policyWriter,
      params: { path: { id: l.policyId } },
    });
    expect(listed.data!.data).toEqual(first.data!.data);
    // One event for the attach that changed something, naming what it attached; none for the repeat.
    const events = await server.sql<{ data: { entitlements: string[] } }>(
      "select data from events where type = 'policy.entitlements.attached' and data->'policy'->>'id' = $1",
      [l.policyId],
    );
    expect(events.map((e) => e.data.entitlements)).toEqual([[a.code, b.code]]);
  });

  it('refuses unknown codes and ids all or nothing, listing them (422 UNKNOWN_ENTITLEMENTS)', async () => {
    const l = await license();
    const known = await createEntitlement(code('KNOWN'));
    const ghost = '01a1f4b6-3e2d-7c58-9b1a-4f6e2d8c0a99';
    const { response, error } = await attachToPolicy(l.policyId, [known.code, 'NO_SUCH_THING', ghost]);
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'UNKNOWN_ENTITLEMENTS', unknownEntitlements: ['NO_SUCH_THING', ghost] });
    expect(await server.sql('select * from policy_entitlements where policy_id = $1', [l.policyId])).toEqual([]);
    const detach = await server.client.DELETE('/licenses/{id}/entitlements', {
      headers: admin,
      params: { path: { id: l.licenseId } },
      body: { entitlements: ['NO_SUCH_THING'] },
    });
    expect(detach.response.status).toBe(422);
  });

  it('refuses malformed lists with 400: empty, over 100, neither a code nor a UUID', async () => {
    const l = await license();
    for (const entitlements of [[], Array.from({ length: 101 }, (_, i) => `C${i}`), ['pro-export']]) {
      const { response, error } = await attachToPolicy(l.policyId, entitlements);
      expect(response.status, JSON.stringify(entitlements).slice(0, 40)).toBe(400);
      expect((error as Problem).code).toBe('VALIDATION_FAILED');
    }
  });

  it('answers 404 for a policy or license that does not exist or was deleted', async () => {
    const e = await createEntitlement(code('ORPHAN'));
    const missing = '01a1f0c2-5b7e-7a40-9c3d-2e8f6b1a4d91';
    const p = await attachToPolicy(missing, [e.code]);
    expect((p.error as Problem).code).toBe('POLICY_NOT_FOUND');
    const l = await license();
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: l.licenseId } } });
    const gone = await attachToLicense(l.licenseId, [e.code]);
    expect(gone.response.status).toBe(404);
    expect((gone.error as Problem).code).toBe('LICENSE_NOT_FOUND');
  });

  it('makes one row and one event of 50 concurrent attaches of the same code', async () => {
    const l = await license();
    const e = await createEntitlement(code('STORM'));
    const results = await Promise.all(Array.from({ length: 50 }, () => attachToLicense(l.licenseId, [e.code])));
    expect(results.map((r) => r.response.status)).toEqual(Array(50).fill(200));
    expect(await server.sql('select * from license_entitlements where license_id = $1', [l.licenseId])).toHaveLength(1);
    expect(await eventsOf('license.entitlements.attached', 'license', l.licenseId)).toHaveLength(1);
  });

  it('detaches idempotently; detaching what is not attached is no error and no event', async () => {
    const l = await license();
    const e = await createEntitlement(code('DETACHED'));
    await attachToLicense(l.licenseId, [e.code]);
    for (let i = 0; i < 2; i++) {
      const { response, data } = await server.client.DELETE('/licenses/{id}/entitlements', {
        headers: admin,
        params: { path: { id: l.licenseId } },
        body: { entitlements: [e.id] },
      });
      expect(response.status).toBe(200);
      expect(data!.data).toEqual([]);
    }
    const [detached, ...more] = await eventsOf('license.entitlements.detached', 'license', l.licenseId);
    expect(more).toEqual([]);
    expect(detached!.data.entitlements).toEqual([e.code]);
  });

  it("lists a license's effective entitlements with their sources", async () => {
    const l = await license();
    const both = await createEntitlement(code('BOTH'));
    const own = await createEntitlement(code('OWN'));
    const inherited = await createEntitlement(code('INHERITED'));
    await attachToPolicy(l.policyId, [both.code, inherited.code]);
    await attachToLicense(l.licenseId, [both.code, own.code]);
    const { data } = await server.client.GET('/licenses/{id}/entitlements', {
      headers: admin,
      params: { path: { id: l.licenseId } },
    });
    expect(data!.data.map((e) => [e.code, e.sources])).toEqual([
      [both.code, ['POLICY', 'LICENSE']],
      [inherited.code, ['POLICY']],
      [own.code, ['LICENSE']],
    ]);
  });

  it('holds a policy to 100 entitlements (422 ENTITLEMENT_LIMIT_EXCEEDED, nothing attached)', async () => {
    const l = await license();
    const codes: string[] = [];
    for (let i = 0; i < 101; i++) codes.push(code('MANY'));
    await server.sql(
      "insert into entitlements (id, code, name, metadata, created_at, updated_at) select gen_random_uuid(), c, 'x', '{}', now(), now() from unnest($1::text[]) c",
      [codes],
    );
    expect((await attachToPolicy(l.policyId, codes.slice(0, 100))).response.status).toBe(200);
    const over = await attachToPolicy(l.policyId, [codes[100]!]);
    expect(over.response.status).toBe(422);
    expect((over.error as Problem).code).toBe('ENTITLEMENT_LIMIT_EXCEEDED');
    expect(await server.sql('select * from policy_entitlements where policy_id = $1', [l.policyId])).toHaveLength(100);
  });

  it('lets exactly 10 of 50 concurrent attaches into the last 10 places of a policy', async () => {
    const l = await license();
    const codes = Array.from({ length: 140 }, () => code('CROWD'));
    await server.sql(
      "insert into entitlements (id, code, name, metadata, created_at, updated_at) select gen_random_uuid(), c, 'x', '{}', now(), now() from unnest($1::text[]) c",
      [codes],
    );
    expect((await attachToPolicy(l.policyId, codes.slice(0, 90))).response.status).toBe(200);
    const results = await Promise.all(codes.slice(90).map((c) => attachToPolicy(l.policyId, [c])));
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 422)).toHaveLength(40);
    expect(await server.sql('select * from policy_entitlements where policy_id = $1', [l.policyId])).toHaveLength(100);
  });

  it('guards attaching with the owner write scope, not entitlements:write', async () => {
    const l = await license();
    const e = await createEntitlement(code('GUARDED'));
    const refused = await attachToPolicy(l.policyId, [e.code], readOnly);
    expect(refused.response.status).toBe(403);
    expect((await attachToPolicy(l.policyId, [e.code], policyWriter)).response.status).toBe(200);
  });
});

describe('validation with entitlements', () => {
  it('reports the effective entitlements, sorted: the policy’s and the license’s, each once', async () => {
    const l = await license();
    const z = await createEntitlement(code('Z_LAST'));
    const a = await createEntitlement(code('A_FIRST'));
    const m = await createEntitlement(code('M_MIDDLE'));
    expect((await validate(l.key)).entitlements).toEqual([]);
    await attachToPolicy(l.policyId, [z.code, m.code]);
    await attachToLicense(l.licenseId, [a.code, m.code]);
    const verdict = await validate(l.key);
    expect(verdict).toMatchObject({ valid: true, code: 'VALID', missingEntitlements: [] });
    expect(verdict.entitlements).toEqual([a.code, m.code, z.code]);
  });

  it('says ENTITLEMENTS_MISSING, listing the missing codes, when one asked for is absent', async () => {
    const l = await license();
    const have = await createEntitlement(code('HAVE'));
    await attachToPolicy(l.policyId, [have.code]);
    expect(await validate(l.key, { entitlements: [have.code] })).toMatchObject({ valid: true, code: 'VALID' });
    const verdict = await validate(l.key, { entitlements: ['ZZ_NOT_A_THING', have.code, 'AA_NOPE', 'AA_NOPE'] });
    expect(verdict).toMatchObject({
      valid: false,
      code: 'ENTITLEMENTS_MISSING',
      entitlements: [have.code],
      missingEntitlements: ['AA_NOPE', 'ZZ_NOT_A_THING'],
    });
  });

  it('stops reporting an entitlement once it is deleted: detached everywhere', async () => {
    const l = await license();
    const e = await createEntitlement(code('WITHDRAWN'));
    await attachToPolicy(l.policyId, [e.code]);
    await attachToLicense(l.licenseId, [e.code]);
    expect((await validate(l.key)).entitlements).toEqual([e.code]);
    await server.client.DELETE('/entitlements/{id}', { headers: admin, params: { path: { id: e.id } } });
    expect(await validate(l.key, { entitlements: [e.code] })).toMatchObject({
      code: 'ENTITLEMENTS_MISSING',
      entitlements: [],
      missingEntitlements: [e.code],
    });
    // Its code is free again.
    await createEntitlement(e.code);
  });

  it('ranks SUSPENDED and TOO_MANY_MACHINES before ENTITLEMENTS_MISSING, and that before the fingerprint', async () => {
    const l = await seedPolicyAndLicense(server, admin, { name: 'Two seats', maxMachines: 2 });
    expect(await validate(l.key, { entitlements: ['ABSENT'], fingerprint: 'fp-not-activated' })).toMatchObject({
      code: 'ENTITLEMENTS_MISSING',
      missingEntitlements: ['ABSENT'],
    });
    await activate(server, l.key);
    await activate(server, l.key);
    const lowered = await patch(server, admin, '/policies/{id}', l.policyId, { maxMachines: 1 });
    expect(lowered.status).toBe(200);
    expect(await validate(l.key, { entitlements: ['ABSENT'] })).toMatchObject({
      valid: false,
      code: 'TOO_MANY_MACHINES',
      missingEntitlements: ['ABSENT'],
    });
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: l.licenseId } },
    });
    expect(await validate(l.key, { entitlements: ['ABSENT'] })).toMatchObject({
      valid: false,
      code: 'SUSPENDED',
      missingEntitlements: ['ABSENT'],
    });
  });

  it('refuses a malformed entitlements scope with 400', async () => {
    const l = await license();
    for (const entitlements of [[], ['lower'], Array.from({ length: 101 }, (_, i) => `C${i}`)]) {
      const response = await fetch(`${server.apiUrl}/licenses/actions/validate`, {
        method: 'POST',
        headers: { ...licenseAuth(l.key), 'Content-Type': 'application/json' },
        body: JSON.stringify({ entitlements }),
      });
      expect(response.status).toBe(400);
    }
  });
});

describe('the CLI', { timeout: 300_000 }, () => {
  it('manages entitlements, attaches them and sets the matching strategy, in the API shapes', async () => {
    const json = async (...args: string[]) => {
      const result = await runCli([...args, '--json'], {
        DATABASE_URL: server.databaseUrl,
        LICENTRIC_SECRET: TEST_SECRET,
        LOG_LEVEL: 'warn',
      });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    const c = code('CLI_EXPORT');
    const entitlement = await json('entitlements', 'create', '--code', c, '--name', 'Export');
    expect(entitlement).toMatchObject({ code: c, name: 'Export', metadata: {} });
    const policy = await json('policies', 'create', '--name', 'CLI', '--matching-strategy', 'MATCH_MOST');
    expect(policy.machineMatchingStrategy).toBe('MATCH_MOST');
    expect(await json('policies', 'attach-entitlements', policy.id, '--entitlements', c)).toEqual([entitlement]);
    const { data } = await server.client.POST('/licenses', { headers: admin, body: { policyId: policy.id } });
    expect(await json('licenses', 'entitlements', data!.data.id)).toEqual([{ ...entitlement, sources: ['POLICY'] }]);
    expect((await validate(data!.data.key)).entitlements).toEqual([c]);
    expect(await json('policies', 'detach-entitlements', policy.id, '--entitlements', entitlement.id)).toEqual([]);
  });
});
