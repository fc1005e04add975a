import { expect, it } from 'vitest';
import type { Scope } from '../../src/keys/scopes.ts';
import { activate, bearer, licenseAuth, type Problem, seedApiKey, seedLicense, type TestServer } from './harness.ts';

/** How an operation is called, given the Authorization header (or none). */
export interface SecuredOperation {
  name: string;
  /** Which credentials the operation accepts; none: it is public. */
  accepts: ('License' | 'Bearer')[];
  /** For Bearer operations: the scope it needs; none: any valid API key may call it. */
  scope?: Scope;
  /** Sets up whatever the call needs (e.g. a machine) and returns the call. */
  prepare(server: TestServer): Promise<(headers: Record<string, string>) => Promise<Response>>;
}

/** For each required scope, a scope that is close but does not grant it. */
const WRONG_SCOPE: Record<Scope, Scope> = {
  'machines:read': 'licenses:read',
  'machines:write': 'machines:read',
  'licenses:read': 'policies:read',
  'licenses:write': 'licenses:read',
  'policies:read': 'machines:read',
  'policies:write': 'policies:read',
  'products:read': 'policies:read',
  'products:write': 'products:read',
  'entitlements:read': 'policies:read',
  'entitlements:write': 'entitlements:read',
  'events:read': 'licenses:read',
  'webhooks:write': 'events:read',
  'signing-keys:write': 'webhooks:write',
  admin: 'policies:write',
};

/**
 * The security cases every operation shares: each refusal is its documented 401 or 403 with a
 * problem body and a WWW-Authenticate challenge, and never data.
 */
export function securityCases(server: TestServer, op: SecuredOperation): void {
  if (op.accepts.length === 0) {
    it(`${op.name}: needs no credentials, and any sent are neither checked nor refused`, async () => {
      const call = await op.prepare(server);
      for (const headers of [
        {} as Record<string, string>,
        { Authorization: 'Basic dXNlcjpwYXNz' },
        { Authorization: 'Bearer lct_0000000000000000000000000000000000000000000000000' },
        { Authorization: 'License DSK-AAAAA-AAAAA-AAAAA-AAAAA' },
      ]) {
        const response = await call(headers);
        expect(response.status, JSON.stringify(headers)).toBe(200);
        expect(response.headers.get('www-authenticate')).toBeNull();
      }
    });
    return;
  }

  async function expectRefused(response: Response, status: number, code: string) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await response.json()) as Problem;
    expect(body).toMatchObject({ status, code });
    expect(body).not.toHaveProperty('data');
    if (status === 401) {
      const challenge = response.headers.get('www-authenticate') ?? '';
      for (const scheme of op.accepts) expect(challenge).toContain(`${scheme} realm="licentric"`);
    }
  }

  it(`${op.name}: no credentials → 401 AUTHENTICATION_REQUIRED`, async () => {
    const call = await op.prepare(server);
    await expectRefused(await call({}), 401, 'AUTHENTICATION_REQUIRED');
  });

  it(`${op.name}: an unknown scheme → 401 AUTHENTICATION_REQUIRED`, async () => {
    const call = await op.prepare(server);
    await expectRefused(await call({ Authorization: 'Basic dXNlcjpwYXNz' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  for (const scheme of op.accepts) {
    it(`${op.name}: malformed ${scheme} credentials → 401 INVALID_CREDENTIALS`, async () => {
      const call = await op.prepare(server);
      for (const value of [
        'x',
        'DSK-AAAAA-AAAAA-AAAAA-AAAAA',
        'lct_0000000000000000000000000000000000000000000000000',
      ]) {
        await expectRefused(await call({ Authorization: `${scheme} ${value}` }), 401, 'INVALID_CREDENTIALS');
      }
    });
  }

  if (op.accepts.includes('License')) {
    it(`${op.name}: a well-formed license key nobody issued → 401 INVALID_CREDENTIALS`, async () => {
      const call = await op.prepare(server);
      // A key issued under a different server secret is well-formed but unknown here.
      const { generateLicenseKey } = await import('../../src/keys/license-key.ts');
      await expectRefused(await call(licenseAuth(generateLicenseKey('TST'))), 401, 'INVALID_CREDENTIALS');
    });
  }

  if (!op.accepts.includes('License')) {
    it(`${op.name}: a license key where an API key is required → 401`, async () => {
      const call = await op.prepare(server);
      const { key } = await seedLicense(server);
      await expectRefused(await call(licenseAuth(key)), 401, 'AUTHENTICATION_REQUIRED');
      // Even sent as a Bearer token it is not an API key.
      await expectRefused(await call(bearer(key)), 401, 'INVALID_CREDENTIALS');
    });
  }

  if (!op.accepts.includes('Bearer')) {
    it(`${op.name}: an API key where a license key is required → 401`, async () => {
      const call = await op.prepare(server);
      const token = await seedApiKey(server, ['admin']);
      await expectRefused(await call(bearer(token)), 401, 'AUTHENTICATION_REQUIRED');
      await expectRefused(await call(licenseAuth(token)), 401, 'INVALID_CREDENTIALS');
    });
  }

  if (op.accepts.includes('Bearer')) {
    it(`${op.name}: a revoked API key → 401 INVALID_CREDENTIALS`, async () => {
      const call = await op.prepare(server);
      const token = await seedApiKey(server, ['admin']);
      await server.sql('update api_keys set revoked_at = now() where token_hint = $1', [
        `${token.slice(0, 10)}…${token.slice(-4)}`,
      ]);
      await expectRefused(await call(bearer(token)), 401, 'INVALID_CREDENTIALS');
    });

    it(`${op.name}: an expired API key → 401 INVALID_CREDENTIALS`, async () => {
      const call = await op.prepare(server);
      const token = await seedApiKey(server, ['admin'], { expiresAt: new Date(server.clock.now().getTime() + 1000) });
      expect((await call(bearer(token))).status).not.toBe(401);
      server.clock.advance(1000);
      await expectRefused(await call(bearer(token)), 401, 'INVALID_CREDENTIALS');
    });

    const { scope } = op;
    if (scope === undefined) {
      it(`${op.name}: any API key is let through, whatever its scopes`, async () => {
        for (const scopes of [['events:read'], ['machines:read', 'licenses:write'], ['admin']] as Scope[][]) {
          const call = await op.prepare(server);
          const response = await call(bearer(await seedApiKey(server, scopes)));
          expect(response.status, scopes.join()).toBeLessThan(300);
        }
      });
    } else {
      it(`${op.name}: an API key without ${scope} → 403 INSUFFICIENT_SCOPE`, async () => {
        const call = await op.prepare(server);
        const token = await seedApiKey(server, [WRONG_SCOPE[scope]]);
        await expectRefused(await call(bearer(token)), 403, 'INSUFFICIENT_SCOPE');
      });

      it(`${op.name}: an API key with ${scope} or admin is let through`, async () => {
        for (const scopes of [[scope], ['admin']] as Scope[][]) {
          const call = await op.prepare(server);
          const response = await call(bearer(await seedApiKey(server, scopes)));
          expect(response.status, scopes.join()).toBeLessThan(300);
        }
      });
    }

    it(`${op.name}: the scheme name is case-insensitive`, async () => {
      const call = await op.prepare(server);
      const token = await seedApiKey(server, ['admin']);
      expect((await call({ Authorization: `bearer ${token}` })).status).toBeLessThan(300);
    });
  }
}

/** A fresh policy made through the domain, for operations on a policy. */
export async function freshPolicy(server: TestServer): Promise<string> {
  return (await server.services().policies.create({ name: 'security' })).id;
}

let products = 0;

/** A fresh product, for operations on a product. */
export async function freshProduct(server: TestServer): Promise<string> {
  return (await server.services().products.create({ name: 'security', code: `SECURITY_${++products}` })).id;
}

/** A fresh API key (with a harmless scope), for operations on an API key. */
export async function freshApiKeyId(server: TestServer): Promise<string> {
  return (await server.services().apiKeys.create({ name: 'security', scopes: ['machines:read'] })).apiKey.id;
}

/** A fresh license with one active machine, for operations on a machine. */
export async function licenseWithMachine(server: TestServer) {
  const license = await seedLicense(server);
  return { ...license, machineId: (await activate(server, license.key)).id };
}
