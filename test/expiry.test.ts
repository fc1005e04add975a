import { readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ManualClock } from '../src/core/clock.ts';
import { initOrm, migrate } from '../src/db/orm.ts';
import { execute, sql } from '../src/db/sql.ts';
import { ENTITIES } from '../src/entities.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { presentPolicy } from '../src/http/presenters.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { generateLicenseKey } from '../src/keys/license-key.ts';
import { announceExpiredLicenses } from '../src/licenses/expiry.ts';
import { createLogger } from '../src/log.ts';
import { Services } from '../src/services.ts';
import {
  activate,
  type Credentials,
  licenseAuth,
  machineBody,
  patched,
  rawActivate,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];
type CreateLicense = components['schemas']['CreateLicenseRequest'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const reader = useApiKey(server, ['licenses:read']);

const DAY = 86_400;
const MONTH = 30 * DAY;
const T0 = '2026-03-01T14:00:00.000Z';

const plus = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

let seq = 0;

async function createPolicy(body: Partial<CreatePolicy> = {}) {
  const { response, data, error } = await server.client.POST('/policies', {
    headers: admin,
    body: { name: `expiry ${++seq}`, ...body },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

async function createLicense(policyId: string, body: Omit<Partial<CreateLicense>, 'policyId'> = {}) {
  const { response, data, error } = await server.client.POST('/licenses', {
    headers: admin,
    body: { ...body, policyId },
  });
  expect(response.status, JSON.stringify(error)).toBe(201);
  return data!.data;
}

/** A policy with `policy`'s rules and one license under it. */
async function licensed(policy: Partial<CreatePolicy> = {}, license: Omit<Partial<CreateLicense>, 'policyId'> = {}) {
  const p = await createPolicy(policy);
  return { policy: p, ...(await createLicense(p.id, license)) };
}

async function validate(key: string, fingerprint?: string) {
  const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body: fingerprint === undefined ? undefined : { fingerprint },
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

function renew(id: string, headers: Credentials = admin, idempotencyKey?: string) {
  return server.client.POST('/licenses/{id}/actions/renew', {
    headers: idempotencyKey === undefined ? headers : { ...headers, 'Idempotency-Key': idempotencyKey },
    params: { path: { id } },
  });
}

async function renewed(id: string) {
  const { response, data, error } = await renew(id);
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

async function getLicense(id: string) {
  const { data } = await server.client.GET('/licenses/{id}', { headers: admin, params: { path: { id } } });
  return data!.data;
}

function heartbeat(key: string, machineId: string) {
  return server.client.POST('/machines/{id}/heartbeat', {
    headers: licenseAuth(key),
    params: { path: { id: machineId } },
  });
}

function deactivate(credentials: Credentials, machineId: string) {
  return server.client.DELETE('/machines/{id}', { headers: credentials, params: { path: { id: machineId } } });
}

async function events(licenseId: string, type: string) {
  return server.sql<{ occurred_at: Date; data: { license: { expiresAt: string | null } } }>(
    'select occurred_at, data from events where license_id = $1 and type = $2 order by id',
    [licenseId, type],
  );
}

async function pending(licenseId: string): Promise<boolean> {
  const [row] = await server.sql<{ expiry_pending: boolean }>('select expiry_pending from licenses where id = $1', [
    licenseId,
  ]);
  return row!.expiry_pending;
}

describe('policy expiry settings', () => {
  it('default to no duration and the rules from before them, and round-trip', async () => {
    const plain = await createPolicy();
    expect(plain).toMatchObject({
      duration: null,
      expirationBasis: 'FROM_CREATION',
      expirationStrategy: 'RESTRICT_ACCESS',
      renewalBasis: 'FROM_NOW_IF_EXPIRED',
    });
    const full = {
      duration: MONTH,
      expirationBasis: 'FROM_FIRST_ACTIVATION',
      expirationStrategy: 'MAINTAIN_ACCESS',
      renewalBasis: 'FROM_EXPIRY',
    } as const;
    const policy = await createPolicy(full);
    expect(policy).toMatchObject(full);
    expect(await patched(server, admin, '/policies/{id}', policy.id, { duration: null })).toMatchObject({
      ...full,
      duration: null,
    });
    expect(
      await patched(server, admin, '/policies/{id}', policy.id, {
        duration: 60,
        expirationStrategy: 'REVOKE_ACCESS',
      }),
    ).toMatchObject({ duration: 60, expirationStrategy: 'REVOKE_ACCESS', expirationBasis: 'FROM_FIRST_ACTIVATION' });
  });

  it.each([
    ['duration 59', { duration: 59 }, '/duration'],
    ['duration over 50 years', { duration: 1_577_880_001 }, '/duration'],
    ['duration not whole', { duration: 86_400.5 }, '/duration'],
    ['duration a string', { duration: '30d' }, '/duration'],
    ['unknown basis', { expirationBasis: 'FROM_PURCHASE' }, '/expirationBasis'],
    ['unknown strategy', { expirationStrategy: 'ALLOW_ACCESS' }, '/expirationStrategy'],
    ['unknown renewal basis', { renewalBasis: 'FROM_CREATION' }, '/renewalBasis'],
    ['null basis', { expirationBasis: null }, '/expirationBasis'],
  ])('refuses %s: 400 at %s on create and update, nothing written', async (_name, fields, pointer) => {
    const before = await server.sql('select count(*)::int as n from policies');
    const created = await fetch(`${server.apiUrl}/policies`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bad', ...fields }),
    });
    expect(created.status).toBe(400);
    const problem = (await created.json()) as { code: string; errors: { pointer: string }[] };
    expect(problem).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(problem.errors.map((e) => e.pointer)).toContain(pointer);
    expect(await server.sql('select count(*)::int as n from policies')).toEqual(before);

    const policy = await createPolicy({ duration: MONTH });
    const updated = await fetch(`${server.apiUrl}/policies/${policy.id}`, {
      method: 'PATCH',
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify(fields),
    });
    expect(updated.status).toBe(400);
    expect(
      (await server.client.GET('/policies/{id}', { headers: admin, params: { path: { id: policy.id } } })).data!.data,
    ).toEqual(policy);
  });
});

describe('expiration basis', () => {
  it('FROM_CREATION: a license gets created + duration; a given expiry wins; null means never', async () => {
    server.clock.set(T0);
    const p = await createPolicy({ duration: MONTH });
    expect((await createLicense(p.id)).expiresAt).toBe(plus(T0, MONTH));
    expect((await createLicense(p.id, { expiresAt: '2027-01-01T00:00:00.000Z' })).expiresAt).toBe(
      '2027-01-01T00:00:00.000Z',
    );
    expect((await createLicense(p.id, { expiresAt: null })).expiresAt).toBeNull();
    // A policy without a duration keeps the old meaning of an absent expiry: never.
    expect((await licensed()).expiresAt).toBeNull();
  });

  it('FROM_FIRST_ACTIVATION: set by the first activation, once; validations do not start it', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: MONTH, expirationBasis: 'FROM_FIRST_ACTIVATION' });
    expect(l.expiresAt).toBeNull();
    server.clock.advance(3_600_000);
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'VALID', license: { expiresAt: null } });

    const t1 = server.clock.advance(3_600_000).toISOString();
    await activate(server, l.key);
    expect((await getLicense(l.id)).expiresAt).toBe(plus(t1, MONTH));
    const started = await events(l.id, 'license.updated');
    expect(started).toHaveLength(1);
    expect(started[0]!.data.license.expiresAt).toBe(plus(t1, MONTH));

    server.clock.advance(DAY * 1000);
    await activate(server, l.key);
    expect((await getLicense(l.id)).expiresAt).toBe(plus(t1, MONTH));
    expect(await events(l.id, 'license.updated')).toHaveLength(1);
  });

  it('FROM_FIRST_VALIDATION: set by the first validation, once, and shown in that answer', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: 14 * DAY, expirationBasis: 'FROM_FIRST_VALIDATION' });
    await activate(server, l.key);
    expect((await getLicense(l.id)).expiresAt).toBeNull();

    const t1 = server.clock.advance(60_000).toISOString();
    expect(await validate(l.key)).toMatchObject({
      valid: true,
      code: 'VALID',
      license: { expiresAt: plus(t1, 14 * DAY), status: 'ACTIVE' },
    });
    server.clock.advance(DAY * 1000);
    expect((await validate(l.key)).license.expiresAt).toBe(plus(t1, 14 * DAY));
    expect((await getLicense(l.id)).expiresAt).toBe(plus(t1, 14 * DAY));
    expect(await events(l.id, 'license.updated')).toHaveLength(1);

    server.clock.set(plus(t1, 14 * DAY));
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'EXPIRED' });
  });

  it('an expiry set by hand before the first event stays: never stays never', async () => {
    server.clock.set(T0);
    const byActivation = await licensed({ duration: MONTH, expirationBasis: 'FROM_FIRST_ACTIVATION' });
    const byValidation = await licensed({ duration: MONTH, expirationBasis: 'FROM_FIRST_VALIDATION' });
    for (const l of [byActivation, byValidation]) {
      expect(await pending(l.id)).toBe(true);
      await patched(server, admin, '/licenses/{id}', l.id, { expiresAt: null });
      expect(await pending(l.id)).toBe(false);
    }
    await activate(server, byActivation.key);
    await validate(byValidation.key);
    expect((await getLicense(byActivation.id)).expiresAt).toBeNull();
    expect((await getLicense(byValidation.id)).expiresAt).toBeNull();
  });

  it('an explicit expiry on creation wins over a first-event basis', async () => {
    server.clock.set(T0);
    const l = await licensed(
      { duration: MONTH, expirationBasis: 'FROM_FIRST_ACTIVATION' },
      { expiresAt: '2027-06-01T00:00:00.000Z' },
    );
    await activate(server, l.key);
    expect((await getLicense(l.id)).expiresAt).toBe('2027-06-01T00:00:00.000Z');
  });

  /**
   * Fires `count` requests at once while the clock moves a millisecond each turn of the event
   * loop, so they read different instants and the winner's time is one of many.
   */
  async function storm(count: number, request: () => Promise<Response>): Promise<Response[]> {
    let done = false;
    const tick = () => {
      if (done) return;
      server.clock.advance(1);
      setImmediate(tick);
    };
    setImmediate(tick);
    try {
      return await Promise.all(Array.from({ length: count }, request));
    } finally {
      done = true;
    }
  }

  it('50 concurrent first activations set one expiry: the first committed activation + duration', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: MONTH, expirationBasis: 'FROM_FIRST_ACTIVATION' });
    // All at once on a still clock: moving it slowed the storm enough to hide a lost race.
    const responses = await Promise.all(Array.from({ length: 50 }, () => rawActivate(server, l.key)));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(201));

    const started = await events(l.id, 'license.updated');
    expect(started).toHaveLength(1);
    // Activations hold the license row in turn and ids grow in that order: the smallest is the first.
    const [first] = await server.sql<{ created_at: Date }>(
      'select created_at from machines where license_id = $1 order by id limit 1',
      [l.id],
    );
    const expected = plus(first!.created_at.toISOString(), MONTH);
    expect((await getLicense(l.id)).expiresAt).toBe(expected);
    expect(started[0]!.data.license.expiresAt).toBe(expected);
    expect(started[0]!.occurred_at.toISOString()).toBe(first!.created_at.toISOString());
  });

  it('50 concurrent first validations set one expiry, and every answer shows it', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: MONTH, expirationBasis: 'FROM_FIRST_VALIDATION' });
    const responses = await storm(50, () =>
      fetch(`${server.apiUrl}/licenses/actions/validate`, { method: 'POST', headers: licenseAuth(l.key) }),
    );
    type Answer = { data: components['schemas']['LicenseValidation'] };
    const answers = (await Promise.all(responses.map((r) => r.json()))) as Answer[];
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));

    const started = await events(l.id, 'license.updated');
    expect(started).toHaveLength(1);
    const expected = plus(started[0]!.occurred_at.toISOString(), MONTH);
    expect((await getLicense(l.id)).expiresAt).toBe(expected);
    expect(new Set(answers.map((a) => a.data.license.expiresAt))).toEqual(new Set([expected]));
    expect(answers.every((a) => a.data.code === 'VALID')).toBe(true);
  });

  it("the worker's expiry pass announces a computed expiry once, and a renewed one again", async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: DAY, expirationBasis: 'FROM_FIRST_ACTIVATION' });
    const at = server.clock.advance(60_000).toISOString();
    await activate(server, l.key);
    const pass = (now: string) => announceExpiredLicenses(server.orm.em.fork(), new Date(now));

    await pass(plus(at, DAY - 1));
    expect(await events(l.id, 'license.expired')).toHaveLength(0);
    await pass(plus(at, DAY));
    await pass(plus(at, DAY + 60));
    expect((await events(l.id, 'license.expired')).map((e) => e.data.license.expiresAt)).toEqual([plus(at, DAY)]);

    server.clock.set(plus(at, DAY + 3600));
    const renewal = await renewed(l.id);
    expect(renewal.expiresAt).toBe(plus(at, 2 * DAY + 3600));
    await pass(plus(at, 2 * DAY + 3600));
    expect((await events(l.id, 'license.expired')).map((e) => e.data.license.expiresAt)).toEqual([
      plus(at, DAY),
      plus(at, 2 * DAY + 3600),
    ]);
  });
});

describe('expiration strategy', () => {
  /** A license of `strategy` with one active machine, expired an hour ago. */
  async function expiredWithMachine(
    expirationStrategy: CreatePolicy['expirationStrategy'],
    policy: Partial<CreatePolicy> = {},
  ) {
    server.clock.set(T0);
    // Heartbeats every 30 days: the machine is alive when the license has just expired.
    const l = await licensed({
      duration: DAY,
      expirationStrategy,
      requireHeartbeat: true,
      heartbeatDuration: 2_592_000,
      ...policy,
    });
    const body = machineBody();
    const machine = await activate(server, l.key, body);
    server.clock.set(plus(T0, DAY + 3600));
    return { ...l, machine, fingerprint: body.fingerprint };
  }

  it('RESTRICT_ACCESS (default): validate EXPIRED, no activation, no heartbeat, deactivation allowed', async () => {
    const l = await expiredWithMachine(undefined);
    expect(l.policy.expirationStrategy).toBe('RESTRICT_ACCESS');
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'EXPIRED' });
    expect(await validate(l.key, l.fingerprint)).toMatchObject({ valid: false, code: 'EXPIRED' });

    const activation = await server.client.POST('/machines', { headers: licenseAuth(l.key), body: machineBody() });
    expect(activation.response.status).toBe(403);
    expect(activation.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    const beat = await heartbeat(l.key, l.machine.id);
    expect(beat.response.status).toBe(403);
    expect(beat.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    expect((await deactivate(licenseAuth(l.key), l.machine.id)).response.status).toBe(200);
  });

  it('MAINTAIN_ACCESS: validate valid with code EXPIRED, heartbeats and deactivation allowed, no activation', async () => {
    const l = await expiredWithMachine('MAINTAIN_ACCESS');
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'EXPIRED', license: { status: 'EXPIRED' } });
    expect(await validate(l.key, l.fingerprint)).toMatchObject({
      valid: true,
      code: 'EXPIRED',
      machine: { id: l.machine.id },
    });
    // The warning ranks below the refusals about the machine.
    expect(await validate(l.key, 'fp-never-activated')).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
    });

    const beat = await heartbeat(l.key, l.machine.id);
    expect(beat.response.status, JSON.stringify(beat.error)).toBe(200);
    expect(beat.data!.data).toMatchObject({ heartbeatStatus: 'ALIVE' });
    const activation = await server.client.POST('/machines', { headers: licenseAuth(l.key), body: machineBody() });
    expect(activation.response.status).toBe(403);
    expect(activation.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    expect((await deactivate(licenseAuth(l.key), l.machine.id)).response.status).toBe(200);
  });

  it('MAINTAIN_ACCESS: suspension and a machine limit the license is over still refuse', async () => {
    const l = await expiredWithMachine('MAINTAIN_ACCESS', { maxMachines: 2 });
    server.clock.set(T0);
    await activate(server, l.key);
    server.clock.set(plus(T0, DAY + 3600));
    await patched(server, admin, '/policies/{id}', l.policy.id, { maxMachines: 1 });
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'TOO_MANY_MACHINES' });

    await server.client.POST('/licenses/{id}/actions/suspend', { headers: admin, params: { path: { id: l.id } } });
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'SUSPENDED' });
    const beat = await heartbeat(l.key, l.machine.id);
    expect(beat.error).toMatchObject({ code: 'LICENSE_SUSPENDED' });
  });

  it('REVOKE_ACCESS: validate EXPIRED, and the key opens no other operation', async () => {
    const l = await expiredWithMachine('REVOKE_ACCESS');
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'EXPIRED' });
    expect(await validate(l.key, l.fingerprint)).toMatchObject({ valid: false, code: 'EXPIRED' });

    const beat = await heartbeat(l.key, l.machine.id);
    expect(beat.response.status).toBe(403);
    expect(beat.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    const gone = await deactivate(licenseAuth(l.key), l.machine.id);
    expect(gone.response.status).toBe(403);
    expect(gone.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    // Not even a hint about another license's machine, or a malformed request.
    const other = await heartbeat(l.key, '01a00000-0000-7000-8000-000000000000');
    expect(other.error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    const [row] = await server.sql('select deleted_at from machines where id = $1', [l.machine.id]);
    expect(row!.deleted_at).toBeNull();

    // The vendor's API key still manages the machine.
    expect((await deactivate(admin, l.machine.id)).response.status).toBe(200);
  });

  it('REVOKE_ACCESS: every license-key operation of the API but validate refuses the key', async () => {
    const l = await expiredWithMachine('REVOKE_ACCESS');
    const document = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'));
    const routes: string[] = [];
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, unknown>>)) {
      for (const [method, operation] of Object.entries(item)) {
        const security = (operation as { security?: Record<string, unknown>[]; operationId: string }).security ?? [];
        if (!security.some((s) => 'License' in s)) continue;
        if ((operation as { operationId: string }).operationId === 'validateLicense') continue;
        routes.push(`${method.toUpperCase()} ${path}`);
        const response = await fetch(`${server.apiUrl}${path.replace('{id}', l.machine.id)}`, {
          method: method.toUpperCase(),
          headers: { ...licenseAuth(l.key), 'Content-Type': 'application/json' },
          body: method === 'post' ? JSON.stringify(machineBody()) : undefined,
        });
        expect(response.status, `${method} ${path}`).toBe(403);
        expect(await response.json(), `${method} ${path}`).toMatchObject({ code: 'LICENSE_EXPIRED' });
      }
    }
    expect(routes).toEqual(
      expect.arrayContaining(['POST /machines', 'DELETE /machines/{id}', 'POST /machines/{id}/heartbeat']),
    );
  });

  it('REVOKE_ACCESS: before the expiry everything works, and a renewal gives the key back', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: DAY, expirationStrategy: 'REVOKE_ACCESS' });
    const machine = await activate(server, l.key);
    expect((await heartbeat(l.key, machine.id)).response.status).toBe(200);
    server.clock.set(plus(T0, DAY));
    expect((await heartbeat(l.key, machine.id)).error).toMatchObject({ code: 'LICENSE_EXPIRED' });
    await renewed(l.id);
    expect((await heartbeat(l.key, machine.id)).response.status).toBe(200);
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('a strategy changed on the policy applies to its expired licenses at once', async () => {
    const l = await expiredWithMachine('RESTRICT_ACCESS');
    expect((await heartbeat(l.key, l.machine.id)).response.status).toBe(403);
    await patched(server, admin, '/policies/{id}', l.policy.id, { expirationStrategy: 'MAINTAIN_ACCESS' });
    expect((await heartbeat(l.key, l.machine.id)).response.status).toBe(200);
    expect(await validate(l.key)).toMatchObject({ valid: true, code: 'EXPIRED' });
  });
});

describe('POST /licenses/{id}/actions/renew', () => {
  it('FROM_NOW_IF_EXPIRED (default): from the expiry while it runs, from now once it passed', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: MONTH });
    server.clock.advance(DAY * 1000);
    const first = await renewed(l.id);
    expect(first).toMatchObject({ expiresAt: plus(T0, 2 * MONTH), status: 'ACTIVE', updatedAt: plus(T0, DAY) });

    const late = plus(T0, 3 * MONTH);
    server.clock.set(late);
    expect((await getLicense(l.id)).status).toBe('EXPIRED');
    expect(await renewed(l.id)).toMatchObject({ expiresAt: plus(late, MONTH), status: 'ACTIVE' });

    const logged = await events(l.id, 'license.renewed');
    expect(logged.map((e) => e.data.license.expiresAt)).toEqual([plus(T0, 2 * MONTH), plus(late, MONTH)]);
  });

  it('FROM_EXPIRY counts from a passed expiry; FROM_NOW forfeits what was left', async () => {
    server.clock.set(T0);
    const fromExpiry = await licensed({ duration: MONTH, renewalBasis: 'FROM_EXPIRY' });
    const fromNow = await licensed({ duration: MONTH, renewalBasis: 'FROM_NOW' });
    server.clock.set(plus(T0, MONTH + DAY));
    expect((await renewed(fromExpiry.id)).expiresAt).toBe(plus(T0, 2 * MONTH));
    server.clock.set(plus(T0, 10 * DAY));
    expect((await renewed(fromNow.id)).expiresAt).toBe(plus(T0, 10 * DAY + MONTH));
  });

  it('a license without an expiry, or waiting for its first activation, renews from now', async () => {
    server.clock.set(T0);
    const p = await createPolicy({
      duration: MONTH,
      expirationBasis: 'FROM_FIRST_ACTIVATION',
      renewalBasis: 'FROM_EXPIRY',
    });
    const never = await createLicense(p.id, { expiresAt: null });
    const waiting = await createLicense(p.id);
    server.clock.advance(3_600_000);
    expect((await renewed(never.id)).expiresAt).toBe(plus(T0, 3600 + MONTH));
    expect((await renewed(waiting.id)).expiresAt).toBe(plus(T0, 3600 + MONTH));
    // Renewed, it waits no more: a first activation leaves the expiry alone.
    server.clock.advance(3_600_000);
    await activate(server, waiting.key);
    expect((await getLicense(waiting.id)).expiresAt).toBe(plus(T0, 3600 + MONTH));
  });

  it('a suspended license is renewed and stays suspended', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: MONTH });
    await server.client.POST('/licenses/{id}/actions/suspend', { headers: admin, params: { path: { id: l.id } } });
    expect(await renewed(l.id)).toMatchObject({ status: 'SUSPENDED', expiresAt: plus(T0, 2 * MONTH) });
  });

  it('refuses a policy without a duration: 422 POLICY_HAS_NO_DURATION, nothing changed', async () => {
    server.clock.set(T0);
    const l = await licensed({}, { expiresAt: '2026-06-01T00:00:00.000Z' });
    const before = await getLicense(l.id);
    server.clock.advance(60_000);
    const { response, error } = await renew(l.id);
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'POLICY_HAS_NO_DURATION' });
    expect(await getLicense(l.id)).toEqual(before);
    expect(await events(l.id, 'license.renewed')).toEqual([]);
  });

  it('refuses an expiry past 9999-12-31: 422 EXPIRY_OUT_OF_RANGE, nothing changed', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: 1_577_880_000 }, { expiresAt: '9990-01-01T00:00:00.000Z' });
    const { response, error } = await renew(l.id);
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'EXPIRY_OUT_OF_RANGE' });
    expect((await getLicense(l.id)).expiresAt).toBe('9990-01-01T00:00:00.000Z');
  });

  it('answers 404 for an unknown or deleted license, 400 for a bad id, 403 without licenses:write', async () => {
    const l = await licensed({ duration: MONTH });
    expect((await renew('01a00000-0000-7000-8000-000000000000')).error).toMatchObject({ code: 'LICENSE_NOT_FOUND' });
    const bad = await fetch(`${server.apiUrl}/licenses/nope/actions/renew`, { method: 'POST', headers: admin });
    expect(bad.status).toBe(400);
    const forbidden = await renew(l.id, reader);
    expect(forbidden.response.status).toBe(403);
    expect(forbidden.error).toMatchObject({ code: 'INSUFFICIENT_SCOPE' });
    const byKey = await fetch(`${server.apiUrl}/licenses/${l.id}/actions/renew`, {
      method: 'POST',
      headers: licenseAuth(l.key),
    });
    expect(byKey.status).toBe(401);
    await server.client.DELETE('/licenses/{id}', { headers: admin, params: { path: { id: l.id } } });
    expect((await renew(l.id)).response.status).toBe(404);
  });

  it('50 concurrent renewals add 50 durations, with 50 events', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: DAY });
    const responses = await Promise.all(Array.from({ length: 50 }, () => renew(l.id)));
    expect(responses.map((r) => r.response.status)).toEqual(Array(50).fill(200));
    expect((await getLicense(l.id)).expiresAt).toBe(plus(T0, 51 * DAY));
    const logged = await events(l.id, 'license.renewed');
    expect(logged).toHaveLength(50);
    expect(new Set(logged.map((e) => e.data.license.expiresAt)).size).toBe(50);
  });

  it('50 concurrent renewals with one Idempotency-Key renew once', async () => {
    server.clock.set(T0);
    const l = await licensed({ duration: DAY });
    const responses = await Promise.all(Array.from({ length: 50 }, () => renew(l.id, admin, `renew-${l.id}`)));
    const statuses = responses.map((r) => r.response.status);
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    for (const r of responses.filter((r) => r.response.status === 200)) {
      expect(r.data!.data.expiresAt).toBe(plus(T0, 2 * DAY));
    }
    for (const r of responses.filter((r) => r.response.status === 409)) {
      expect(r.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    }
    const retry = await renew(l.id, admin, `renew-${l.id}`);
    expect(retry.response.status).toBe(200);
    expect(retry.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect((await getLicense(l.id)).expiresAt).toBe(plus(T0, 2 * DAY));
    expect(await events(l.id, 'license.renewed')).toHaveLength(1);
  });
});

describe('the CLI', { timeout: 300_000 }, () => {
  const cli = (...args: string[]) =>
    runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });
  const json = async (...args: string[]) => {
    const result = await cli(...args, '--json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  };

  it('sets the expiry settings on policies and renews licenses', async () => {
    const policy = await json(
      'policies',
      'create',
      '--name',
      'Yearly',
      '--duration',
      '31557600',
      '--expiration-basis',
      'FROM_FIRST_VALIDATION',
      '--expiration-strategy',
      'MAINTAIN_ACCESS',
      '--renewal-basis',
      'FROM_EXPIRY',
    );
    expect(policy).toMatchObject({
      duration: 31557600,
      expirationBasis: 'FROM_FIRST_VALIDATION',
      expirationStrategy: 'MAINTAIN_ACCESS',
      renewalBasis: 'FROM_EXPIRY',
    });
    const license = await json('licenses', 'create', '--policy', policy.id, '--expires-at', '2099-01-01T00:00:00Z');
    expect(await json('licenses', 'renew', license.id)).toMatchObject({ expiresAt: '2100-01-01T06:00:00.000Z' });

    expect(await json('policies', 'update', policy.id, '--duration', 'none')).toMatchObject({ duration: null });
    const refused = await cli('licenses', 'renew', license.id);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('POLICY_HAS_NO_DURATION');
    const bad = await cli('policies', 'update', policy.id, '--expiration-strategy', 'REVOKE');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--expiration-strategy must be one of');
  });
});

describe('the migration', () => {
  it('keeps every existing policy and license meaning what it meant', async () => {
    // A database at the schema before this migration, with a policy and licenses made there.
    const name = `${inject('databasePrefix')}premigration_${Date.now()}`;
    const admin = new pg.Client({ connectionString: inject('serverUrl') });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(inject('serverUrl'));
    url.pathname = `/${name}`;
    const orm = await initOrm({
      clientUrl: url.toString(),
      entities: ENTITIES,
      log: createLogger('silent'),
      poolSize: 2,
    });
    try {
      await orm.migrator.up({ to: 'Migration20261129020000_hot_paths' });
      const em = orm.em.fork();
      const policyId = '01a00000-0000-7000-8000-0000000000a1';
      await execute(
        em,
        sql`insert into policies (id, name, max_machines, key_prefix, require_heartbeat, metadata, created_at, updated_at)
            values (${policyId}, 'old', null, 'OLD', false, '{}', ${T0}, ${T0})`,
      );
      const hasher = new KeyHasher(TEST_SECRET);
      const licenses = [
        { id: '01a00000-0000-7000-8000-0000000000b1', key: generateLicenseKey('OLD'), expiresAt: null },
        { id: '01a00000-0000-7000-8000-0000000000b2', key: generateLicenseKey('OLD'), expiresAt: T0 },
      ];
      for (const l of licenses) {
        await execute(
          em,
          sql`insert into licenses (id, policy_id, key_hash, key_hint, metadata, expires_at, created_at, updated_at)
              values (${l.id}, ${policyId}, ${hasher.hash('license-key', l.key)}, 'OLD-…', '{}', ${l.expiresAt}, ${T0}, ${T0})`,
        );
      }

      expect(await migrate(orm)).toContain('Migration20261204030000_expiry');

      const services = new Services(orm.em.fork(), new ManualClock(plus(T0, DAY)), hasher, CLI_ACTOR);
      expect(presentPolicy(await services.policies.get(policyId))).toMatchObject({
        duration: null,
        expirationBasis: 'FROM_CREATION',
        expirationStrategy: 'RESTRICT_ACCESS',
        renewalBasis: 'FROM_NOW_IF_EXPIRED',
      });
      const [never, expired] = licenses.map((l) => l.id);
      const machine = await services.machines.activate(never!, { fingerprint: 'fp-after-migration' });
      expect(machine.license.id).toBe(never);
      expect(await services.licenses.validate((await services.licenses.authenticate(licenses[0]!.key))!)).toMatchObject(
        { valid: true, code: 'VALID', license: { license: { expiresAt: null } } },
      );
      expect(await services.licenses.validate((await services.licenses.authenticate(licenses[1]!.key))!)).toMatchObject(
        { valid: false, code: 'EXPIRED' },
      );
      await expect(services.machines.activate(expired!, { fingerprint: 'fp-expired-license' })).rejects.toMatchObject({
        code: 'LICENSE_EXPIRED',
      });
      await expect(services.licenses.renew(expired!)).rejects.toMatchObject({ code: 'POLICY_HAS_NO_DURATION' });
      const rows = await execute<{ expiry_pending: boolean }[]>(
        orm.em.fork(),
        sql`select expiry_pending from licenses`,
      );
      expect(rows.map((r) => r.expiry_pending)).toEqual([false, false]);
    } finally {
      await orm.close();
    }
  });
});
