import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { workerPass } from '../src/worker.ts';
import { bearer, licenseAuth, machineBody, seedApiKey, seedLicense, useTestServer } from './support/harness.ts';

// Small budgets so a test reaches them; each test uses its own forwarded client address (the
// server trusts the loopback proxy), so the tests do not spend each other's budgets.
const server = useTestServer({
  rateLimits: {
    ip: { points: 20, seconds: 60 },
    license: { points: 5, seconds: 60 },
    apiKey: { points: 8, seconds: 60 },
    authFailures: { points: 3, seconds: 600 },
  },
  trustProxy: 'loopback',
});

let address = 0;
const newClient = () => `198.51.100.${++address}`;
const from = (ip: string, headers: Record<string, string> = {}) => ({ 'X-Forwarded-For': ip, ...headers });

async function validate(ip: string, key: string): Promise<Response> {
  return fetch(`${server.apiUrl}/licenses/actions/validate`, { method: 'POST', headers: from(ip, licenseAuth(key)) });
}

async function expectRateLimited(response: Response, policy: string) {
  expect(response.status).toBe(429);
  const body = (await response.json()) as { code: string };
  expect(body.code).toBe('RATE_LIMITED');
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(response.headers.get('ratelimit-policy')).toMatch(new RegExp(`^"${policy}";q=\\d+;w=\\d+$`));
  expect(response.headers.get('ratelimit')).toBe(`"${policy}";r=0;t=${retryAfter}`);
}

describe('rate limits', () => {
  it('per client address: the request past the budget is 429 with Retry-After and RateLimit headers; other addresses go on', async () => {
    const ip = newClient();
    const keys = await Promise.all(Array.from({ length: 5 }, () => seedLicense(server)));
    // 20 requests from one address, spread over licenses so no license budget (5) runs out.
    for (let i = 0; i < 20; i++) expect((await validate(ip, keys[i % 5]!.key)).status).toBe(200);
    await expectRateLimited(await validate(ip, keys[0]!.key), 'ip');
    expect((await validate(newClient(), keys[0]!.key)).status).toBe(200);
  });

  it('per license key and per API key, wherever the requests come from', async () => {
    const { key } = await seedLicense(server);
    for (let i = 0; i < 5; i++) expect((await validate(newClient(), key)).status).toBe(200);
    await expectRateLimited(await validate(newClient(), key), 'license');
    const other = await seedLicense(server);
    expect((await validate(newClient(), other.key)).status).toBe(200);

    const token = await seedApiKey(server, ['admin']);
    for (let i = 0; i < 8; i++) {
      expect((await fetch(`${server.apiUrl}/policies`, { headers: from(newClient(), bearer(token)) })).status).toBe(
        200,
      );
    }
    await expectRateLimited(
      await fetch(`${server.apiUrl}/policies`, { headers: from(newClient(), bearer(token)) }),
      'api-key',
    );
  });

  it('failed authentication per address: the budget of 401s, then 429 for every request from there, counted in PostgreSQL', async () => {
    const ip = newClient();
    const { key } = await seedLicense(server);
    for (let i = 0; i < 3; i++) {
      const response = await validate(ip, `TST-WRONG-${i}`);
      expect(response.status).toBe(401);
    }
    await expectRateLimited(await validate(ip, 'TST-WRONG-X'), 'auth-failures');
    // Blocked for the rest of the window, even with a good key: guessing stops paying off.
    await expectRateLimited(await validate(ip, key), 'auth-failures');
    expect((await validate(newClient(), key)).status).toBe(200);

    const rows = await server.sql<{ points: number }>('select points from rate_limit_auth_failures where key = $1', [
      `ip:${ip}`,
    ]);
    expect(rows).toEqual([{ points: 4 }]);
  });

  it('an address blocked for wrong keys still serves the credentials already proven good there (a shared NAT)', async () => {
    const ip = newClient();
    const honest = await seedLicense(server);
    const token = await seedApiKey(server, ['admin']);
    const policies = (auth: Record<string, string>) => fetch(`${server.apiUrl}/policies`, { headers: from(ip, auth) });
    // The office's machines and its backend work before the flood…
    expect((await validate(ip, honest.key)).status).toBe(200);
    expect((await policies(bearer(token))).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await validate(ip, `TST-WRONG-${i}`)).status).toBe(401);
    await expectRateLimited(await validate(ip, 'TST-WRONG-X'), 'auth-failures');

    // …and after it, while the same address's wrong keys are refused.
    expect((await validate(ip, honest.key.toLowerCase())).status).toBe(200);
    expect((await policies(bearer(token))).status).toBe(200);
    await expectRateLimited(await validate(ip, 'TST-WRONG-Y'), 'auth-failures');
    await expectRateLimited(await policies(bearer('lic_notatoken')), 'auth-failures');
    // A good key not yet proven good is refused like a guess: a right guess gains nothing.
    const unproven = await seedLicense(server);
    await expectRateLimited(await validate(ip, unproven.key), 'auth-failures');
    // A proven key revoked since is authenticated again, and refused.
    await server.services().licenses.delete(honest.licenseId);
    await expectRateLimited(await validate(ip, honest.key), 'auth-failures');
  });

  it('successful requests write nothing to the database for rate limiting', async () => {
    const ip = newClient();
    const { key } = await seedLicense(server);
    const machine = (
      await server.client.POST('/machines', { headers: from(ip, licenseAuth(key)), body: machineBody() })
    ).data!.data;
    const beat = await fetch(`${server.apiUrl}/machines/${machine.id}/heartbeat`, {
      method: 'POST',
      headers: from(ip, licenseAuth(key)),
    });
    expect(beat.status).toBe(200);
    expect(await server.sql('select key from rate_limit_auth_failures where key = $1', [`ip:${ip}`])).toEqual([]);
  });

  it('without LICENTRIC_TRUST_PROXY the address is the socket, whatever X-Forwarded-For says', () => {
    expect(loadConfig({}).trustProxy).toBeUndefined();
    expect(loadConfig({ LICENTRIC_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(loadConfig({ LICENTRIC_TRUST_PROXY: '1' }).trustProxy).toBe(1);
  });

  it('the worker deletes counters whose window has ended', async () => {
    await server.sql(
      `insert into rate_limit_auth_failures (key, points, expire) values ('ip:old', 9, $1), ('ip:live', 1, $2)`,
      [Date.now() - 1000, Date.now() + 600_000],
    );
    await workerPass(server.orm, server.clock, createLogger('silent'));
    const left = await server.sql<{ key: string }>(
      `select key from rate_limit_auth_failures where key in ('ip:old', 'ip:live')`,
    );
    expect(left.map((r) => r.key)).toEqual(['ip:live']);
  });
});

describe('rate-limit configuration', () => {
  it('defaults to budgets an office fleet never reaches, each settable or off', () => {
    const defaults = loadConfig({}).rateLimits;
    // 2000 machines behind one NAT, a heartbeat every 2 minutes and a validation every 10: 1200/min.
    expect(defaults.ip!.points / defaults.ip!.seconds).toBeGreaterThan(1200 / 60);
    expect(loadConfig({ LICENTRIC_RATE_LIMIT_LICENSE: '50/10' }).rateLimits.license).toEqual({
      points: 50,
      seconds: 10,
    });
    expect(loadConfig({ LICENTRIC_RATE_LIMIT_IP: 'off' }).rateLimits.ip).toBeNull();
    expect(loadConfig({ LICENTRIC_RATE_LIMITS: 'off' }).rateLimits).toEqual({
      ip: null,
      license: null,
      apiKey: null,
      authFailures: null,
    });
    expect(() => loadConfig({ LICENTRIC_RATE_LIMIT_IP: 'lots' })).toThrow(
      'LICENTRIC_RATE_LIMIT_IP must be <requests>/<seconds>',
    );
  });
});
