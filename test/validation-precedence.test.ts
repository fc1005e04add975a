import { describe, expect, it } from 'vitest';
import type { components } from '../generated/api.d.ts';
import { activate, licenseAuth, patched, useApiKey, useTestServer } from './support/harness.ts';

/**
 * The order of precedence written in LicenseValidationCode, held across every feature at once: a
 * license with all of the problems answers with the first, and each problem removed in turn
 * reveals the next, down to VALID. The request stays the same throughout; only the license, its
 * policy, its machines and the clock change, as they would for a vendor's customer.
 */

type Validation = components['schemas']['LicenseValidation'];

const server = useTestServer();
const admin = useApiKey(server, ['admin']);

const T0 = '2026-06-01T12:00:00.000Z';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

let seq = 0;
const code = (stem: string) => `${stem}_${Date.now().toString(36).toUpperCase()}_${++seq}`;

async function post<T>(path: string, body?: unknown, headers: Record<string, string> = admin): Promise<T> {
  const response = await fetch(`${server.apiUrl}${path}`, {
    method: 'POST',
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as { data: T };
  expect(response.ok, `${path}: ${JSON.stringify(answer)}`).toBe(true);
  return answer.data;
}

describe('validation codes follow the order of precedence', () => {
  it('answers the first problem that applies, and the next as each is removed', async () => {
    server.clock.set(T0);
    const asked = await post<{ id: string; code: string }>('/products', { name: 'Asked', code: code('ASKED') });
    const other = await post<{ id: string }>('/products', { name: 'Other', code: code('OTHER') });
    const feature = code('FEAT');
    await post('/entitlements', { code: feature, name: 'Feature' });

    const policy = await post<{ id: string }>('/policies', {
      name: 'Everything at once',
      productId: other.id,
      maxMachines: 4,
      maxCores: 100,
      overageStrategy: 'ALLOW_2X_OVERAGE',
      requireHeartbeat: true,
      heartbeatDuration: HOUR / 1000,
      heartbeatResurrectionWindow: (30 * DAY) / 1000,
      expirationStrategy: 'RESTRICT_ACCESS',
      machineMatchingStrategy: 'MATCH_ALL',
    });
    const license = await post<{ id: string; key: string }>('/licenses', {
      policyId: policy.id,
      expiresAt: at(DAY),
    });
    const fingerprint = 'fp-precedence-0001';
    const m1 = await activate(server, license.key, { fingerprint, cores: 2 });
    await activate(server, license.key, { cores: 2 });
    await activate(server, license.key, { cores: 2 });
    // Three machines of 2 cores; the policy now allows one machine and 2 cores, and 2× overage
    // two machines and 4 cores: both beyond the allowance.
    await patched(server, admin, '/policies/{id}', policy.id, { maxMachines: 1, maxCores: 2 });
    await post(`/licenses/${license.id}/actions/suspend`);
    // Past the expiry, and past every machine's heartbeat deadline.
    server.clock.set(at(2 * DAY));

    const request = {
      product: asked.code,
      entitlements: [feature],
      fingerprints: [fingerprint, 'fp-never-activated-0001'],
    };
    const validate = async (): Promise<Validation> => {
      const { response, data, error } = await server.client.POST('/licenses/actions/validate', {
        headers: licenseAuth(license.key),
        body: request,
      });
      expect(response.status, JSON.stringify(error)).toBe(200);
      return data!.data;
    };
    const expectVerdict = async (code: Validation['code'], valid: boolean): Promise<Validation> => {
      const answer = await validate();
      expect({ code: answer.code, valid: answer.valid }, answer.detail).toEqual({ code, valid });
      return answer;
    };

    // 1. The key is not for the product asked: nothing else about the license is told.
    const mismatch = await expectVerdict('PRODUCT_SCOPE_MISMATCH', false);
    expect(mismatch.entitlements).toEqual([]);
    expect(mismatch.missingEntitlements).toEqual([]);
    await patched(server, admin, '/policies/{id}', policy.id, { productId: asked.id });

    // 2. Suspended.
    await expectVerdict('SUSPENDED', false);
    await post(`/licenses/${license.id}/actions/reinstate`);

    // 3. Expired under RESTRICT_ACCESS: refused.
    await expectVerdict('EXPIRED', false);
    await patched(server, admin, '/policies/{id}', policy.id, { expirationStrategy: 'MAINTAIN_ACCESS' });

    // 4. Over both limits beyond the overage allowance: machines first, then cores.
    await expectVerdict('TOO_MANY_MACHINES', false);
    await patched(server, admin, '/policies/{id}', policy.id, { maxMachines: 2 });
    await expectVerdict('TOO_MANY_CORES', false);
    await patched(server, admin, '/policies/{id}', policy.id, { maxCores: 4 });

    // 5. An entitlement asked for that the license lacks.
    const missing = await expectVerdict('ENTITLEMENTS_MISSING', false);
    expect(missing.missingEntitlements).toEqual([feature]);
    await post(`/licenses/${license.id}/entitlements`, { entitlements: [feature] });

    // 6. Fingerprints: MATCH_ALL wants both, and one was never activated; under MATCH_ANY the one
    // that matches belongs to a machine whose heartbeat is dead.
    await expectVerdict('FINGERPRINT_NOT_ACTIVATED', false);
    await patched(server, admin, '/policies/{id}', policy.id, { machineMatchingStrategy: 'MATCH_ANY' });
    const dead = await expectVerdict('HEARTBEAT_DEAD', false);
    expect(dead.machine?.id).toBe(m1.id);
    const beat = await server.client.POST('/machines/{id}/heartbeat', {
      headers: licenseAuth(license.key),
      params: { path: { id: m1.id } },
    });
    expect(beat.response.status, JSON.stringify(beat.error)).toBe(200);

    // 7. Warnings: the software may run. Expired under MAINTAIN_ACCESS first, then the limits
    // exceeded within the overage allowance, machines before cores.
    const expired = await expectVerdict('EXPIRED', true);
    expect(expired.machine?.id).toBe(m1.id);
    await patched(server, admin, '/licenses/{id}', license.id, { expiresAt: at(30 * DAY) });
    await expectVerdict('TOO_MANY_MACHINES', true);
    await patched(server, admin, '/policies/{id}', policy.id, { maxMachines: 3 });
    await expectVerdict('TOO_MANY_CORES', true);
    await patched(server, admin, '/policies/{id}', policy.id, { maxCores: 6 });

    // 8. Nothing left.
    const valid = await expectVerdict('VALID', true);
    expect(valid.machine?.id).toBe(m1.id);
    expect(valid.entitlements).toEqual([feature]);
    expect(valid.missingEntitlements).toEqual([]);
    expect(valid.license).toMatchObject({ status: 'ACTIVE', productId: asked.id, machineCount: 3, coreCount: 6 });
  });
});
