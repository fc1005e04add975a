import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { ValidationLookups } from '../src/licenses/validation-lookup.ts';
import {
  activate,
  countingPool,
  licenseAuth,
  type Problem,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

type CreatePolicy = components['schemas']['CreatePolicyRequest'];
type ValidateBody = components['schemas']['ValidateLicenseRequest'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

const license = (policy: Partial<CreatePolicy> = {}) =>
  seedPolicyAndLicense(server, admin, { name: 'scopes', ...policy });

async function validate(key: string, body: ValidateBody) {
  const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
    headers: licenseAuth(key),
    body,
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  return data!.data;
}

let seq = 0;
const fp = (name: string) => `fp-${name}-${String(++seq).padStart(6, '0')}`;

describe('validate with several fingerprints', () => {
  it('defaults policies to MATCH_ANY, and says so', async () => {
    const { data } = await server.client.POST('/policies', { headers: admin, body: { name: 'default' } });
    expect(data!.data.machineMatchingStrategy).toBe('MATCH_ANY');
  });

  it('MATCH_ANY: one matching fingerprint is enough, and names its machine', async () => {
    const l = await license();
    const disk = fp('disk');
    const machine = await activate(server, l.key, { fingerprint: disk });
    const verdict = await validate(l.key, { fingerprints: [fp('mac'), disk, fp('board')] });
    expect(verdict).toMatchObject({ valid: true, code: 'VALID' });
    expect(verdict.machine?.id).toBe(machine.id);
    expect(await validate(l.key, { fingerprints: [fp('mac'), fp('board')] })).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
      machine: null,
    });
  });

  it('MATCH_MOST: more than half must match; exactly half is not enough', async () => {
    const l = await license({ machineMatchingStrategy: 'MATCH_MOST' });
    const [a, b] = [fp('a'), fp('b')];
    await activate(server, l.key, { fingerprint: a });
    await activate(server, l.key, { fingerprint: b });
    expect(await validate(l.key, { fingerprints: [a, b, fp('c')] })).toMatchObject({ valid: true, code: 'VALID' });
    expect(await validate(l.key, { fingerprints: [a, fp('c')] })).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
    });
    expect(await validate(l.key, { fingerprints: [a, fp('c'), fp('d')] })).toMatchObject({
      code: 'FINGERPRINT_NOT_ACTIVATED',
    });
  });

  it('MATCH_ALL: every fingerprint must match; a repeated one counts once', async () => {
    const l = await license({ machineMatchingStrategy: 'MATCH_ALL' });
    const [a, b] = [fp('a'), fp('b')];
    await activate(server, l.key, { fingerprint: a });
    await activate(server, l.key, { fingerprint: b });
    expect(await validate(l.key, { fingerprints: [a, b, a] })).toMatchObject({ valid: true, code: 'VALID' });
    expect(await validate(l.key, { fingerprints: [a, b, fp('c')] })).toMatchObject({
      valid: false,
      code: 'FINGERPRINT_NOT_ACTIVATED',
    });
  });

  it('follows a strategy changed on the policy at once', async () => {
    const l = await license({ machineMatchingStrategy: 'MATCH_ALL' });
    const a = fp('a');
    await activate(server, l.key, { fingerprint: a });
    const asked = { fingerprints: [a, fp('b')] };
    expect((await validate(l.key, asked)).code).toBe('FINGERPRINT_NOT_ACTIVATED');
    const response = await fetch(`${server.apiUrl}/policies/${l.policyId}`, {
      method: 'PATCH',
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ machineMatchingStrategy: 'MATCH_ANY' }),
    });
    expect(response.status).toBe(200);
    expect((await validate(l.key, asked)).code).toBe('VALID');
  });

  it('answers with the first matched machine that is alive; HEARTBEAT_DEAD when every match is dead', async () => {
    server.clock.set('2026-03-01T10:00:00.000Z');
    const l = await license({ requireHeartbeat: true, heartbeatDuration: 600, heartbeatCullStrategy: 'KEEP_DEAD' });
    const [early, late] = [fp('early'), fp('late')];
    await activate(server, l.key, { fingerprint: early });
    server.clock.set('2026-03-01T10:05:00.000Z');
    const alive = await activate(server, l.key, { fingerprint: late });
    // 10:10: the early machine's window has closed, the late one's has not.
    server.clock.set('2026-03-01T10:10:00.000Z');
    const verdict = await validate(l.key, { fingerprints: [early, late] });
    expect(verdict).toMatchObject({ valid: true, code: 'VALID' });
    expect(verdict.machine?.id).toBe(alive.id);
    expect(verdict.machine?.heartbeatStatus).toBe('ALIVE');
    // 10:15: both are dead; the answer names the first of them.
    server.clock.set('2026-03-01T10:15:00.000Z');
    const dead = await validate(l.key, { fingerprints: [early, late] });
    expect(dead).toMatchObject({ valid: false, code: 'HEARTBEAT_DEAD' });
    expect(dead.machine?.fingerprint).toBe(early);
  });

  it('says NO_MACHINE for a license without machines, as for one fingerprint', async () => {
    const l = await license({ machineMatchingStrategy: 'MATCH_MOST' });
    expect(await validate(l.key, { fingerprints: [fp('a'), fp('b')] })).toMatchObject({ code: 'NO_MACHINE' });
  });

  it('judges one fingerprint the same under every strategy', async () => {
    for (const strategy of ['MATCH_ANY', 'MATCH_MOST', 'MATCH_ALL'] as const) {
      const l = await license({ machineMatchingStrategy: strategy });
      const a = fp('a');
      await activate(server, l.key, { fingerprint: a });
      expect((await validate(l.key, { fingerprint: a })).code, strategy).toBe('VALID');
      expect((await validate(l.key, { fingerprints: [a] })).code, strategy).toBe('VALID');
      expect((await validate(l.key, { fingerprint: fp('b') })).code, strategy).toBe('FINGERPRINT_NOT_ACTIVATED');
    }
  });

  it.each([
    [
      'both fingerprint and fingerprints',
      { fingerprint: 'fp-aaaaaaaa', fingerprints: ['fp-bbbbbbbb'] },
      '/fingerprints',
    ],
    ['an empty list', { fingerprints: [] }, '/fingerprints'],
    ['21 fingerprints', { fingerprints: Array.from({ length: 21 }, (_, i) => `fp-long-${i}`) }, '/fingerprints'],
    ['a short fingerprint in the list', { fingerprints: ['fp-aaaaaaaa', 'short'] }, '/fingerprints/1'],
  ])('refuses %s with 400', async (_, body, pointer) => {
    const l = await license();
    const response = await fetch(`${server.apiUrl}/licenses/actions/validate`, {
      method: 'POST',
      headers: { ...licenseAuth(l.key), 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
  });

  it('rejects a matching strategy that does not exist', async () => {
    const response = await fetch(`${server.apiUrl}/policies`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'x', machineMatchingStrategy: 'MATCH_SOME' }),
    });
    expect(response.status).toBe(400);
  });
});

describe('scoped validations read together', () => {
  it('still reads any mix of fingerprint lists and entitlements in one statement per batch', async () => {
    const l = await license({ machineMatchingStrategy: 'MATCH_MOST' });
    const [a, b] = [fp('a'), fp('b')];
    const ma = await activate(server, l.key, { fingerprint: a });
    await activate(server, l.key, { fingerprint: b });
    const services = server.services();
    const e = await services.entitlements.create({ code: `BATCHED_${++seq}`, name: 'x' });
    await services.entitlements.attach({ kind: 'policy', id: l.policyId }, [e.code]);

    const { pool, statements } = await countingPool(server);
    const lookups = new ValidationLookups(pool);
    const lists = [null, [a], [a, b, 'fp-"quoted",{x}'], ['fp-none-of-them']];
    const queries = Array.from({ length: 40 }, (_, i) => ({
      licenseId: l.licenseId,
      fingerprints: lists[i % lists.length]!,
      now: server.clock.now(),
    }));
    const rows = await Promise.all(queries.map((q) => lookups.lookup(q)));
    // The first goes alone, at once; the other 39 wait for it and go together.
    expect(statements()).toBe(2);
    rows.forEach((row, i) => {
      expect(row.entitlements).toEqual([e.code]);
      expect(row.machine_matching_strategy).toBe('MATCH_MOST');
      expect(row.fingerprint_matches).toBe([0, 1, 2, 0][i % 4]);
      expect(row.m_id).toBe([null, ma.id, ma.id, null][i % 4]);
    });
  });
});
