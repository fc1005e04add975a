import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import {
  activate,
  licenseAuth,
  machineBody,
  type Problem,
  patch,
  patched,
  rawActivate,
  seedPolicyAndLicense,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];
type OverageStrategy = components['schemas']['OverageStrategy'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const silent = createLogger('silent');

const license = (policy: Partial<CreatePolicy> = {}) =>
  seedPolicyAndLicense(server, admin, { name: 'limits', ...policy });

async function createPolicy(body: CreatePolicy) {
  const { response, data, error } = await server.client.POST('/policies', { headers: admin, body });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

async function validate(key: string, fingerprint?: string) {
  const { response, data } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body: fingerprint === undefined ? undefined : { fingerprint },
  });
  expect(response.status).toBe(200);
  return data!.data;
}

async function getLicense(id: string) {
  const { data } = await server.client.GET('/licenses/{id}', { headers: admin, params: { path: { id } } });
  return data!.data;
}

/** Activates machines one at a time until one is refused; returns how many were activated and the refusal. */
async function activateUntilRefused(key: string, body: () => Record<string, unknown>, cap = 40) {
  for (let n = 0; n < cap; n++) {
    const response = await rawActivate(server, key, machineBody(body()));
    if (response.status !== 201)
      return { activated: n, status: response.status, problem: (await response.json()) as Problem };
  }
  return { activated: cap, status: 201, problem: null };
}

/** Fires all requests at once and tallies the statuses. */
async function storm(requests: Promise<Response>[]): Promise<{ tally: Record<number, number>; codes: string[] }> {
  const responses = await Promise.all(requests);
  const tally: Record<number, number> = {};
  const codes: string[] = [];
  for (const response of responses) {
    tally[response.status] = (tally[response.status] ?? 0) + 1;
    if (response.status !== 201) codes.push(((await response.json()) as Problem).code);
    else await response.arrayBuffer();
  }
  return { tally, codes: [...new Set(codes)] };
}

async function activeCores(licenseId: string): Promise<number> {
  const [row] = await server.sql<{ n: number }>(
    'select coalesce(sum(coalesce(cores, 1)), 0)::int as n from machines where license_id = $1 and deleted_at is null',
    [licenseId],
  );
  return row!.n;
}

async function overageEvents(licenseId: string) {
  const { data } = await server.client.GET('/events', {
    headers: admin,
    params: { query: { licenseId, type: 'license.overage' } },
  });
  return data!.data;
}

function deactivate(key: string, id: string): Promise<Response> {
  return fetch(`${server.apiUrl}/machines/${id}`, { method: 'DELETE', headers: licenseAuth(key) });
}

describe('policy limit fields', () => {
  it('default to no core limit, no overage and fingerprints unique per license', async () => {
    const policy = await createPolicy({ name: 'defaults' });
    expect(policy).toMatchObject({
      maxCores: null,
      overageStrategy: 'NO_OVERAGE',
      machineUniquenessStrategy: 'UNIQUE_PER_LICENSE',
    });
  });

  it('are refused when out of range or unknown, with a pointer and nothing written', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ maxCores: 0 }, '/maxCores'],
      [{ maxCores: 2_147_483_648 }, '/maxCores'],
      [{ maxCores: '8' }, '/maxCores'],
      [{ overageStrategy: 'ALLOW_3X_OVERAGE' }, '/overageStrategy'],
      [{ machineUniquenessStrategy: 'UNIQUE_PER_GALAXY' }, '/machineUniquenessStrategy'],
      // Combinations whose allowance rounds down to the limit itself: they would grant nothing.
      [{ maxMachines: 3, overageStrategy: 'ALLOW_1_25X_OVERAGE' }, '/overageStrategy'],
      [{ maxCores: 1, overageStrategy: 'ALLOW_1_5X_OVERAGE' }, '/overageStrategy'],
      [{ maxMachines: 8, maxCores: 2, overageStrategy: 'ALLOW_1_25X_OVERAGE' }, '/overageStrategy'],
    ];
    const [{ n: before } = { n: -1 }] = await server.sql<{ n: number }>('select count(*)::int as n from policies');
    for (const [fields, pointer] of cases) {
      const response = await fetch(`${server.apiUrl}/policies`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'bad', ...fields }),
      });
      const problem = (await response.json()) as Problem;
      expect(response.status, JSON.stringify(fields)).toBe(400);
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors?.map((e) => e.pointer)).toContain(pointer);
    }
    const [{ n: after } = { n: -1 }] = await server.sql<{ n: number }>('select count(*)::int as n from policies');
    expect(after).toBe(before);
  });

  it('accept the smallest limits each factor grants something over', async () => {
    await createPolicy({ name: 'ok', maxMachines: 4, overageStrategy: 'ALLOW_1_25X_OVERAGE' });
    await createPolicy({ name: 'ok', maxCores: 2, overageStrategy: 'ALLOW_1_5X_OVERAGE' });
    await createPolicy({ name: 'ok', maxMachines: 1, overageStrategy: 'ALLOW_2X_OVERAGE' });
    await createPolicy({ name: 'ok', maxMachines: 1, overageStrategy: 'ALWAYS_ALLOW_OVERAGE' });
  });

  it('an update is checked against the limits the policy will have, and a refused one changes nothing', async () => {
    const policy = await createPolicy({ name: 'upd', maxMachines: 8, overageStrategy: 'ALLOW_1_25X_OVERAGE' });
    const lowered = await patch(server, admin, '/policies/{id}', policy.id, { maxMachines: 3 });
    expect(lowered.status).toBe(400);
    expect(((await lowered.json()) as Problem).errors?.[0]?.pointer).toBe('/overageStrategy');
    const cores = await patch(server, admin, '/policies/{id}', policy.id, { maxCores: 1 });
    expect(cores.status).toBe(400);
    const stored = await server.client.GET('/policies/{id}', { headers: admin, params: { path: { id: policy.id } } });
    expect(stored.data!.data).toMatchObject({ maxMachines: 8, maxCores: null, overageStrategy: 'ALLOW_1_25X_OVERAGE' });
    // Both at once is fine.
    const both = await patched(server, admin, '/policies/{id}', policy.id, {
      maxMachines: 3,
      overageStrategy: 'ALLOW_2X_OVERAGE',
      maxCores: 64,
      machineUniquenessStrategy: 'UNIQUE_PER_INSTANCE',
    });
    expect(both).toMatchObject({
      maxMachines: 3,
      overageStrategy: 'ALLOW_2X_OVERAGE',
      maxCores: 64,
      machineUniquenessStrategy: 'UNIQUE_PER_INSTANCE',
    });
    expect((await patched(server, admin, '/policies/{id}', policy.id, { maxCores: null })).maxCores).toBeNull();
  });
});

describe('maxCores', () => {
  it('refuses the activation that would pass it, counting a machine without cores as one', async () => {
    const l = await license({ maxCores: 16 });
    await activate(server, l.key, { cores: 8 });
    await activate(server, l.key, { cores: 6 });
    await activate(server, l.key); // no cores: counts 1 → 15
    const refused = await server.client.POST('/machines', {
      headers: licenseAuth(l.key),
      body: machineBody({ cores: 2 }),
    });
    expect(refused.response.status).toBe(422);
    expect(refused.error).toMatchObject({
      code: 'CORE_LIMIT_EXCEEDED',
      type: 'urn:licentric:problem:core-limit-exceeded',
      detail: "The license's active machines would have 17 cores; its policy allows 16.",
    });
    await activate(server, l.key, { cores: 1 });
    expect(await getLicense(l.licenseId)).toMatchObject({ machineCount: 4, coreCount: 16 });
  });

  it('a machine alone bigger than the limit is refused; deactivating frees its cores', async () => {
    const l = await license({ maxCores: 8 });
    expect((await rawActivate(server, l.key, machineBody({ cores: 9 }))).status).toBe(422);
    const big = await activate(server, l.key, { cores: 8 });
    expect((await rawActivate(server, l.key, machineBody())).status).toBe(422);
    expect((await deactivate(l.key, big.id)).status).toBe(200);
    expect((await getLicense(l.licenseId)).coreCount).toBe(0);
    await activate(server, l.key, { cores: 5 });
    expect((await getLicense(l.licenseId)).coreCount).toBe(5);
  });

  it('the machine limit is checked before the core limit', async () => {
    const l = await license({ maxMachines: 1, maxCores: 4 });
    await activate(server, l.key, { cores: 4 });
    const refused = await server.client.POST('/machines', {
      headers: licenseAuth(l.key),
      body: machineBody({ cores: 4 }),
    });
    expect(refused.error?.code).toBe('MACHINE_LIMIT_EXCEEDED');
  });

  it('50 concurrent activations never overshoot it', async () => {
    const l = await license({ maxCores: 20 });
    const { tally, codes } = await storm(
      Array.from({ length: 50 }, () => rawActivate(server, l.key, machineBody({ cores: 3 }))),
    );
    // 6 × 3 = 18; a seventh would make 21.
    expect(tally).toEqual({ 201: 6, 422: 44 });
    expect(codes).toEqual(['CORE_LIMIT_EXCEEDED']);
    expect(await activeCores(l.licenseId)).toBe(18);
    expect((await getLicense(l.licenseId)).coreCount).toBe(18);
  });

  it('the stored core count matches the machines under activations, deactivations and culls at once', async () => {
    const services = server.services();
    const beating = await services.policies.create({
      name: 'beating',
      keyPrefix: 'CORE',
      requireHeartbeat: true,
      heartbeatDuration: 60,
    });
    const plain = await services.policies.create({ name: 'plain', keyPrefix: 'CORE' });
    const licenses = [];
    for (const policy of [beating, plain, plain])
      licenses.push(await services.licenses.create({ policyId: policy.id }));
    const machines = new Map<string, string[]>();
    for (const { license, key } of licenses) {
      const ids = [];
      for (let i = 0; i < 8; i++) ids.push((await activate(server, key, i % 2 ? { cores: i } : {})).id);
      machines.set(license.id, ids);
    }
    const cullClock = new ManualClock(new Date(server.clock.now().getTime() + 3_600_000));
    const work: Promise<unknown>[] = [];
    for (const { license, key } of licenses) {
      for (let i = 0; i < 6; i++) work.push(rawActivate(server, key, machineBody({ cores: 7 })));
      for (const id of machines.get(license.id)!.slice(0, 4)) work.push(deactivate(key, id));
    }
    work.push(cullPass(server.orm.em.fork(), cullClock, silent, { batchSize: 3 }));
    await Promise.all(work);
    await cullPass(server.orm.em.fork(), cullClock, silent);
    for (const { license } of licenses) {
      expect((await getLicense(license.id)).coreCount).toBe(await activeCores(license.id));
    }
    expect((await getLicense(licenses[0]!.license.id)).coreCount).toBe(0);
    // Untouched by the cull: 4 kept (cores 1, 5, 1, 7) and 6 new of 7 cores.
    expect((await getLicense(licenses[1]!.license.id)).coreCount).toBe(14 + 42);
  });
});

describe('overageStrategy', () => {
  const cases: [OverageStrategy, number][] = [
    ['NO_OVERAGE', 5],
    ['ALLOW_1_25X_OVERAGE', 6], // 6.25, rounded down
    ['ALLOW_1_5X_OVERAGE', 7], // 7.5, rounded down
    ['ALLOW_2X_OVERAGE', 10],
  ];
  for (const [overageStrategy, allowed] of cases) {
    it(`${overageStrategy} lets a license of 5 machines reach ${allowed}`, async () => {
      const l = await license({ maxMachines: 5, overageStrategy });
      const outcome = await activateUntilRefused(l.key, () => ({}));
      expect(outcome.activated).toBe(allowed);
      expect(outcome.problem).toMatchObject({
        code: 'MACHINE_LIMIT_EXCEEDED',
        detail: `The license has reached its policy's limit of ${allowed} active machines.`,
      });
    });
  }

  it('ALWAYS_ALLOW_OVERAGE has no ceiling', async () => {
    const l = await license({ maxMachines: 2, maxCores: 2, overageStrategy: 'ALWAYS_ALLOW_OVERAGE' });
    const outcome = await activateUntilRefused(l.key, () => ({ cores: 4 }), 12);
    expect(outcome).toMatchObject({ activated: 12, status: 201 });
  });

  it('applies to cores: 1.5 × 9 allows 13', async () => {
    const l = await license({ maxCores: 9, overageStrategy: 'ALLOW_1_5X_OVERAGE' });
    const outcome = await activateUntilRefused(l.key, () => ({}));
    expect(outcome.activated).toBe(13);
    expect(outcome.problem).toMatchObject({
      code: 'CORE_LIMIT_EXCEEDED',
      detail: "The license's active machines would have 14 cores; its policy allows 13.",
    });
  });

  it('50 concurrent activations stop exactly at the allowance', async () => {
    const l = await license({ maxMachines: 8, overageStrategy: 'ALLOW_1_25X_OVERAGE' });
    const { tally } = await storm(Array.from({ length: 50 }, () => rawActivate(server, l.key)));
    expect(tally).toEqual({ 201: 10, 422: 40 });
  });
});

describe('validation against the limits', () => {
  it('within the allowance: valid with a warning code; beyond it: not valid', async () => {
    const l = await license({ maxMachines: 2, overageStrategy: 'ALLOW_2X_OVERAGE' });
    const first = await activate(server, l.key);
    await activate(server, l.key);
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'VALID' });
    await activate(server, l.key);
    expect(await validate(l.key)).toMatchObject({
      valid: true,
      code: 'TOO_MANY_MACHINES',
      detail: 'The license has 3 active machines; its policy allows 2.',
      license: { machineCount: 3 },
    });
    // The warning comes after the fingerprint's own verdicts, and carries the machine.
    expect(await validate(l.key, first.fingerprint)).toMatchObject({
      valid: true,
      code: 'TOO_MANY_MACHINES',
      machine: { id: first.id },
    });
    expect(await validate(l.key, 'fp-not-activated')).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
    });
    // A policy change leaves it beyond the allowance: refused, before any fingerprint verdict.
    await patched(server, admin, '/policies/{id}', l.policyId, { maxMachines: 1 });
    expect(await validate(l.key, 'fp-not-activated')).toMatchObject({ valid: false, code: 'TOO_MANY_MACHINES' });
    await patched(server, admin, '/policies/{id}', l.policyId, { overageStrategy: 'ALWAYS_ALLOW_OVERAGE' });
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'TOO_MANY_MACHINES' });
  });

  it('TOO_MANY_CORES when a policy change left the license over, and machines win over cores', async () => {
    const l = await license({ maxMachines: 2, maxCores: 16 });
    const machine = await activate(server, l.key, { cores: 8 });
    await activate(server, l.key, { cores: 8 });
    await patched(server, admin, '/policies/{id}', l.policyId, { maxCores: 12 });
    expect(await validate(l.key, machine.fingerprint)).toMatchObject({
      valid: false,
      code: 'TOO_MANY_CORES',
      detail: "The license's active machines have 16 cores; its policy allows 12.",
      license: { coreCount: 16 },
    });
    await patched(server, admin, '/policies/{id}', l.policyId, { overageStrategy: 'ALLOW_1_5X_OVERAGE' });
    expect(await validate(l.key, machine.fingerprint)).toMatchObject({ valid: true, code: 'TOO_MANY_CORES' });
    await patched(server, admin, '/policies/{id}', l.policyId, { maxMachines: 1, overageStrategy: 'NO_OVERAGE' });
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'TOO_MANY_MACHINES' });
    await patched(server, admin, '/policies/{id}', l.policyId, { overageStrategy: 'ALWAYS_ALLOW_OVERAGE' });
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'TOO_MANY_MACHINES' });
  });

  it('without overage, a license exactly at its limits is valid', async () => {
    const l = await license({ maxMachines: 2, maxCores: 4 });
    await activate(server, l.key, { cores: 2 });
    await activate(server, l.key, { cores: 2 });
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'VALID', license: { coreCount: 4 } });
  });
});

describe('license.overage', () => {
  it('fires once, from the activation that first took the license over, however many race', async () => {
    const l = await license({ maxMachines: 4, overageStrategy: 'ALLOW_2X_OVERAGE' });
    const { tally } = await storm(Array.from({ length: 50 }, () => rawActivate(server, l.key)));
    expect(tally).toEqual({ 201: 8, 422: 42 });
    const events = await overageEvents(l.licenseId);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event!.data).toMatchObject({
      license: { id: l.licenseId, machineCount: 5 },
      maxMachines: 4,
      maxCores: null,
    });
    // The fifth machine, the one that went over.
    const [fifth] = await server.sql<{ id: string }>(
      'select id from machines where license_id = $1 order by id offset 4 limit 1',
      [l.licenseId],
    );
    expect(event!.machineId).toBe(fifth!.id);
  });

  it('does not fire again when the license comes back under and goes over again', async () => {
    const l = await license({ maxCores: 4, overageStrategy: 'ALLOW_2X_OVERAGE' });
    await activate(server, l.key, { cores: 4 });
    expect(await overageEvents(l.licenseId)).toHaveLength(0);
    const over = await activate(server, l.key, { cores: 2 });
    expect(await overageEvents(l.licenseId)).toHaveLength(1);
    expect((await deactivate(l.key, over.id)).status).toBe(200);
    await activate(server, l.key, { cores: 2 });
    expect(await overageEvents(l.licenseId)).toHaveLength(1);
  });

  it('never fires for a license refused at its limit', async () => {
    const l = await license({ maxMachines: 1 });
    await activate(server, l.key);
    expect((await rawActivate(server, l.key)).status).toBe(422);
    expect(await overageEvents(l.licenseId)).toHaveLength(0);
  });
});

describe('machineUniquenessStrategy', () => {
  async function licensesUnder(policyId: string, n: number) {
    const keys = [];
    const services = server.services();
    for (let i = 0; i < n; i++) keys.push((await services.licenses.create({ policyId })).key);
    return keys;
  }

  async function racers(keys: string[], fingerprint: string) {
    // Each key authenticated once first, so the activations arrive together rather than one
    // key's first lookup apart.
    await Promise.all(keys.map((key) => validate(key)));
    return storm(keys.map((key) => rawActivate(server, key, machineBody({ fingerprint }))));
  }

  it('UNIQUE_PER_LICENSE (the default) lets other licenses activate the same machine', async () => {
    const policy = await createPolicy({ name: 'per-license' });
    const keys = await licensesUnder(policy.id, 5);
    const { tally } = await racers(keys, 'fp-shared-per-license');
    expect(tally).toEqual({ 201: 5 });
  });

  it('UNIQUE_PER_POLICY: of 50 licenses racing for one fingerprint, exactly one wins', async () => {
    const policy = await createPolicy({ name: 'per-policy', machineUniquenessStrategy: 'UNIQUE_PER_POLICY' });
    const keys = await licensesUnder(policy.id, 50);
    const { tally, codes } = await racers(keys, 'fp-race-per-policy');
    expect(tally).toEqual({ 201: 1, 409: 49 });
    expect(codes).toEqual(['FINGERPRINT_TAKEN_ELSEWHERE']);
    const active = await server.sql<{ id: string }>(
      `select id from machines where fingerprint = 'fp-race-per-policy' and deleted_at is null`,
    );
    expect(active).toHaveLength(1);
  });

  it('UNIQUE_PER_POLICY refuses with a stable code naming nothing of the other license, and frees on deactivation', async () => {
    const policy = await createPolicy({ name: 'per-policy', machineUniquenessStrategy: 'UNIQUE_PER_POLICY' });
    const [a, b] = await licensesUnder(policy.id, 2);
    const other = await license();
    const held = await activate(server, a!, { fingerprint: 'fp-policy-scope' });
    const refused = await server.client.POST('/machines', {
      headers: licenseAuth(b!),
      body: { fingerprint: 'fp-policy-scope' },
    });
    expect(refused.response.status).toBe(409);
    expect(refused.error).toEqual({
      type: 'urn:licentric:problem:fingerprint-taken-elsewhere',
      title: 'The fingerprint is already activated on another license',
      status: 409,
      detail: 'The fingerprint is already active on another license of this policy.',
      code: 'FINGERPRINT_TAKEN_ELSEWHERE',
      requestId: expect.any(String),
    });
    // Its own license's copy is still the plain conflict, naming the machine.
    const own = await server.client.POST('/machines', {
      headers: licenseAuth(a!),
      body: { fingerprint: 'fp-policy-scope' },
    });
    expect(own.error).toMatchObject({ code: 'FINGERPRINT_TAKEN', machineId: held.id });
    // Another policy's license is outside the scope.
    await activate(server, other.key, { fingerprint: 'fp-policy-scope' });
    expect((await deactivate(a!, held.id)).status).toBe(200);
    await activate(server, b!, { fingerprint: 'fp-policy-scope' });
  });

  it('UNIQUE_PER_INSTANCE: 50 licenses of several policies racing, exactly one wins', async () => {
    const keys = [];
    for (let p = 0; p < 5; p++) {
      const policy = await createPolicy({ name: `instance-${p}`, machineUniquenessStrategy: 'UNIQUE_PER_INSTANCE' });
      keys.push(...(await licensesUnder(policy.id, 10)));
    }
    const { tally, codes } = await racers(keys, 'fp-race-per-instance');
    expect(tally).toEqual({ 201: 1, 409: 49 });
    expect(codes).toEqual(['FINGERPRINT_TAKEN_ELSEWHERE']);
  });

  it('UNIQUE_PER_INSTANCE sees machines of licenses under any policy', async () => {
    const loose = await license();
    await activate(server, loose.key, { fingerprint: 'fp-held-by-loose' });
    const strict = await license({ machineUniquenessStrategy: 'UNIQUE_PER_INSTANCE' });
    const refused = await server.client.POST('/machines', {
      headers: licenseAuth(strict.key),
      body: { fingerprint: 'fp-held-by-loose' },
    });
    expect(refused.error).toMatchObject({
      code: 'FINGERPRINT_TAKEN_ELSEWHERE',
      detail: 'The fingerprint is already active on another license.',
    });
  });

  it('UNIQUE_PER_PRODUCT spans the policies of one product; a policy without a product is its own scope', async () => {
    const one = await createPolicy({ name: 'product-a', machineUniquenessStrategy: 'UNIQUE_PER_PRODUCT' });
    const two = await createPolicy({ name: 'product-b', machineUniquenessStrategy: 'UNIQUE_PER_PRODUCT' });
    const [a1, a2] = await licensesUnder(one.id, 2);
    const [b1] = await licensesUnder(two.id, 1);
    // Without products: each policy its own scope.
    await activate(server, a1!, { fingerprint: 'fp-product-scope' });
    expect((await rawActivate(server, a2!, { fingerprint: 'fp-product-scope' })).status).toBe(409);
    const b = await activate(server, b1!, { fingerprint: 'fp-product-scope' });
    expect((await deactivate(b1!, b.id)).status).toBe(200);
    // One product for both policies: one scope.
    await putUnderOneProduct([one.id, two.id]);
    const refused = await server.client.POST('/machines', {
      headers: licenseAuth(b1!),
      body: { fingerprint: 'fp-product-scope' },
    });
    expect(refused.error).toMatchObject({
      code: 'FINGERPRINT_TAKEN_ELSEWHERE',
      detail: "The fingerprint is already active on another license of this policy's product.",
    });
  });

  it('a change of strategy deactivates nothing; it applies to activations from then on', async () => {
    const policy = await createPolicy({ name: 'changing' });
    const [a, b, c] = await licensesUnder(policy.id, 3);
    const held = await activate(server, a!, { fingerprint: 'fp-before-change' });
    const alsoHeld = await activate(server, b!, { fingerprint: 'fp-before-change' });
    await patched(server, admin, '/policies/{id}', policy.id, { machineUniquenessStrategy: 'UNIQUE_PER_POLICY' });
    expect(await validate(a!, 'fp-before-change')).toMatchObject({ valid: true, machine: { id: held.id } });
    expect(await validate(b!, 'fp-before-change')).toMatchObject({ valid: true, machine: { id: alsoHeld.id } });
    expect((await rawActivate(server, c!, { fingerprint: 'fp-before-change' })).status).toBe(409);
  });
});

/** Puts policies under one new product, through the API as a vendor would. */
async function putUnderOneProduct(policyIds: string[]): Promise<void> {
  const code = `SCOPE_${randomUUID().slice(0, 8).toUpperCase()}`;
  const created = await server.client.POST('/products', { headers: admin, body: { name: 'One product', code } });
  expect(created.response.status, JSON.stringify(created.error)).toBe(201);
  for (const id of policyIds) {
    await patched(server, admin, '/policies/{id}', id, { productId: created.data!.data.id });
  }
}

describe('the CLI', { timeout: 300_000 }, () => {
  const cli = (...args: string[]) =>
    runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });

  it('sets the limit fields on create and update, and refuses unknown strategies', async () => {
    const created = await cli(
      'policies',
      'create',
      '--name',
      'Render farm',
      '--max-cores',
      '512',
      '--overage-strategy',
      'ALLOW_1_25X_OVERAGE',
      '--machine-uniqueness-strategy',
      'UNIQUE_PER_POLICY',
      '--json',
    );
    expect(created.code, created.stderr).toBe(0);
    const policy = JSON.parse(created.stdout);
    expect(policy).toMatchObject({
      maxCores: 512,
      overageStrategy: 'ALLOW_1_25X_OVERAGE',
      machineUniquenessStrategy: 'UNIQUE_PER_POLICY',
    });
    const updated = await cli(
      'policies',
      'update',
      policy.id,
      '--max-cores',
      'none',
      '--overage-strategy',
      'NO_OVERAGE',
      '--machine-uniqueness-strategy',
      'UNIQUE_PER_INSTANCE',
      '--json',
    );
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      maxCores: null,
      overageStrategy: 'NO_OVERAGE',
      machineUniquenessStrategy: 'UNIQUE_PER_INSTANCE',
    });
    const refused = await cli('policies', 'update', policy.id, '--overage-strategy', 'ALLOW_2_OVERAGE');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--overage-strategy must be one of NO_OVERAGE');
  });
});
