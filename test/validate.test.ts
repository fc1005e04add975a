import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ValidationLookups } from '../src/licenses/validation-lookup.ts';
import {
  activate,
  activated,
  countingPool,
  licenseAuth,
  machineBody,
  patched,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

const license = (policy: Partial<CreatePolicy> = {}, license: { expiresAt?: string } = {}) =>
  seedPolicyAndLicense(server, admin, { name: 'validate', ...policy }, license);

async function validate(key: string, fingerprint?: string) {
  const { response, data } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body: fingerprint === undefined ? undefined : { fingerprint },
  });
  expect(response.status).toBe(200);
  return data!.data;
}

describe('POST /licenses/actions/validate', () => {
  it('VALID for a usable license, with the license it resolved and no machine', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const l = await license();
    const verdict = await validate(l.key);
    expect(verdict).toMatchObject({
      valid: true,
      code: 'VALID',
      machine: null,
      license: { id: l.licenseId, status: 'ACTIVE', machineCount: 0 },
    });
    expect(verdict.detail).toBeTruthy();
  });

  it('VALID with the fingerprint of an active machine, and that machine', async () => {
    const l = await license();
    const body = machineBody();
    const machine = await activate(server, l.key, body);
    const verdict = await validate(l.key, body.fingerprint);
    expect(verdict).toMatchObject({
      valid: true,
      code: 'VALID',
      machine: { id: machine.id, fingerprint: body.fingerprint },
    });
  });

  it('also accepts a request with no body at all', async () => {
    const l = await license();
    const response = await fetch(`${server.apiUrl}/licenses/actions/validate`, {
      method: 'POST',
      headers: licenseAuth(l.key),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { code: string } }).data.code).toBe('VALID');
  });

  it('SUSPENDED, before anything else', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const l = await license({}, { expiresAt: '2026-03-02T00:00:00.000Z' });
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: l.licenseId } },
    });
    server.clock.set('2026-03-03T00:00:00.000Z');
    expect(await validate(l.key, 'whatever-fingerprint')).toMatchObject({
      valid: false,
      code: 'SUSPENDED',
      license: { status: 'SUSPENDED' },
    });
  });

  it('EXPIRED from the expiry instant', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const l = await license({}, { expiresAt: '2026-03-02T00:00:00.000Z' });
    expect((await validate(l.key)).code).toBe('VALID');
    server.clock.set('2026-03-02T00:00:00.000Z');
    expect(await validate(l.key)).toMatchObject({ valid: false, code: 'EXPIRED' });
  });

  it('tells a suspended or expired license what activating a machine would refuse it with', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const expired = await license({}, { expiresAt: '2026-03-01T15:00:00.000Z' });
    const suspended = await license();
    await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: suspended.licenseId } },
    });
    server.clock.set('2026-03-01T16:00:00.000Z');
    for (const l of [expired, suspended]) {
      const refused = await server.client.POST('/machines', { headers: licenseAuth(l.key), body: machineBody() });
      expect(refused.response.status).toBe(403);
      expect((await validate(l.key)).detail).toBe(refused.error!.detail);
    }
  });

  it('TOO_MANY_MACHINES once the policy allows fewer than the license has', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const l = await license({ maxMachines: 2 });
    await activated(server, l.key, 2);
    expect((await validate(l.key)).code).toBe('VALID');
    await patched(server, admin, '/policies/{id}', l.policyId, { maxMachines: 1 });
    expect(await validate(l.key)).toMatchObject({
      valid: false,
      code: 'TOO_MANY_MACHINES',
      license: { machineCount: 2 },
    });
  });

  it('NO_MACHINE and FINGERPRINT_NOT_ACTIVATED for fingerprints that are not active machines', async () => {
    const l = await license();
    expect(await validate(l.key, 'never-activated')).toMatchObject({ valid: false, code: 'NO_MACHINE', machine: null });
    const body = machineBody();
    const machine = await activate(server, l.key, body);
    expect(await validate(l.key, 'never-activated')).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
      machine: null,
    });
    await server.client.DELETE('/machines/{id}', { headers: licenseAuth(l.key), params: { path: { id: machine.id } } });
    expect(await validate(l.key, body.fingerprint)).toMatchObject({ valid: false, code: 'NO_MACHINE' });
  });

  it("HEARTBEAT_DEAD for a machine past its heartbeat window, from the deadline's instant", async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    const l = await license({ requireHeartbeat: true, heartbeatDuration: 600, heartbeatCullStrategy: 'KEEP_DEAD' });
    const body = machineBody();
    const machine = await activate(server, l.key, body);
    server.clock.set('2026-03-01T14:09:59.999Z');
    expect((await validate(l.key, body.fingerprint)).code).toBe('VALID');
    server.clock.set('2026-03-01T14:10:00.000Z');
    expect(await validate(l.key, body.fingerprint)).toMatchObject({
      valid: false,
      code: 'HEARTBEAT_DEAD',
      machine: { id: machine.id },
    });
  });

  it('refuses a malformed fingerprint with 400, and no key with 401', async () => {
    const l = await license();
    const response = await fetch(`${server.apiUrl}/licenses/actions/validate`, {
      method: 'POST',
      headers: { ...licenseAuth(l.key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ fingerprint: 'short' }),
    });
    expect(response.status).toBe(400);
    expect((await fetch(`${server.apiUrl}/licenses/actions/validate`, { method: 'POST' })).status).toBe(401);
  });
});

describe('validations read together', () => {
  it('gives every concurrent validation its own verdict, whatever characters its fingerprint holds', async () => {
    server.clock.set('2026-03-01T14:00:00.000Z');
    // Characters that mean something inside a PostgreSQL array literal, where the fingerprints travel.
    const awkward = ['quote"in-it', 'back\\slash\\', '{braces},comma', 'NULL-ish NULL', "it's  spaced "];
    const licenses = await Promise.all(
      Array.from({ length: 5 }, () =>
        license({ requireHeartbeat: true, heartbeatDuration: 600, heartbeatCullStrategy: 'KEEP_DEAD' }),
      ),
    );
    const active = new Map<string, string>();
    for (const [i, l] of licenses.entries()) {
      active.set(l.key, (await activate(server, l.key, { fingerprint: awkward[i]! })).id);
    }
    const asks = licenses.flatMap((l, i) => [
      { key: l.key, fingerprint: awkward[i], code: 'VALID', machine: active.get(l.key) },
      {
        key: l.key,
        fingerprint: awkward[(i + 1) % awkward.length],
        code: 'FINGERPRINT_NOT_ACTIVATED',
        machine: undefined,
      },
      { key: l.key, fingerprint: undefined, code: 'VALID', machine: undefined },
    ]);
    const verdicts = await Promise.all(asks.map((ask) => validate(ask.key, ask.fingerprint)));
    verdicts.forEach((verdict, i) => {
      const ask = asks[i]!;
      expect(verdict.code, `${ask.fingerprint}`).toBe(ask.code);
      expect(verdict.machine?.id).toBe(ask.machine);
      expect(verdict.license.machineCount).toBe(1);
    });
  });

  it('collects the validations that arrive while a statement is in flight into one statement', async () => {
    const ls = await Promise.all(Array.from({ length: 3 }, () => license()));
    const fingerprints = await Promise.all(
      ls.map(async (l) => {
        const body = machineBody();
        await activate(server, l.key, body);
        return body.fingerprint;
      }),
    );
    const { pool, statements } = await countingPool(server);
    const lookups = new ValidationLookups(pool);
    const ids = await server.sql<{ id: string; license_id: string }>(
      'select id, license_id from machines where fingerprint = any($1)',
      [fingerprints],
    );
    const queries = Array.from({ length: 30 }, (_, i) => ({
      licenseId: ls[i % 3]!.licenseId,
      fingerprints: i % 2 === 0 ? [fingerprints[i % 3]!] : null,
      now: new Date(),
    }));
    const rows = await Promise.all(queries.map((q) => lookups.lookup(q)));
    // The first goes alone, at once; the other 29 wait for it and go together.
    expect(statements()).toBe(2);
    rows.forEach((row, i) => {
      const q = queries[i]!;
      expect(row.machine_count).toBe(1);
      expect(row.m_id).toBe(q.fingerprints === null ? null : ids.find((m) => m.license_id === q.licenseId)!.id);
    });
  });
});
