import { describe, expect, it } from 'vitest';
import { bearer, licenseAuth, machineBody, TEST_SECRET, useTestServer } from './support/harness.ts';
import { runCli } from './support/processes.ts';

const server = useTestServer();

/** The CLI on this file's database, with the server's secret: what it creates, the server accepts. */
const cli = (...args: string[]) => runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });

describe('the CLI', () => {
  it('creates a policy, a license and an API key whose credentials work against the API', async () => {
    const policy = await cli('policies', 'create', '--name', 'Desktop', '--max-machines', '2', '--key-prefix', 'DSK', '--json');
    expect(policy.code, policy.stderr).toBe(0);
    const p = JSON.parse(policy.stdout);
    expect(p).toMatchObject({ name: 'Desktop', maxMachines: 2, keyPrefix: 'DSK', id: expect.any(String) });

    const license = await cli('licenses', 'create', '--policy', p.id, '--expires-at', '2030-01-01T00:00:00Z', '--json');
    expect(license.code, license.stderr).toBe(0);
    const l = JSON.parse(license.stdout);
    expect(l).toMatchObject({ policyId: p.id, expiresAt: '2030-01-01T00:00:00.000Z', key: expect.stringMatching(/^DSK-(\w{5}-){3}\w{5}$/) });

    const apiKey = await cli('api-keys', 'create', '--name', 'backend', '--scopes', 'machines:read,machines:write', '--json');
    expect(apiKey.code, apiKey.stderr).toBe(0);
    const k = JSON.parse(apiKey.stdout);
    expect(k).toMatchObject({ name: 'backend', scopes: ['machines:read', 'machines:write'], token: expect.stringMatching(/^lct_/) });

    const activated = await server.client.POST('/machines', { headers: licenseAuth(l.key), body: machineBody() });
    expect(activated.response.status).toBe(201);
    expect(activated.data!.data.licenseId).toBe(l.id);
    const listed = await server.client.GET('/machines', { headers: bearer(k.token), params: { query: { licenseId: l.id } } });
    expect(listed.data!.data.map((m) => m.id)).toEqual([activated.data!.data.id]);

    // Keys are stored only as keyed hashes.
    const rows = await server.sql<{ key_hash: Buffer }>('select key_hash from licenses where id = $1', [l.id]);
    expect(rows[0]!.key_hash).toHaveLength(32);
    expect(rows[0]!.key_hash.toString('latin1')).not.toContain(l.key);
  });

  it('prints the key once in human form without --json', async () => {
    const policy = JSON.parse((await cli('policies', 'create', '--name', 'Plain', '--json')).stdout);
    const human = await cli('licenses', 'create', '--policy', policy.id);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/shown only this once:\n\n {2}LIC-(\w{5}-){3}\w{5}\n/);
  });

  it.each([
    [['policies', 'create'], 2, '--name is required'],
    [['policies', 'create', '--name', 'x', '--max-machines', 'many'], 2, '--max-machines must be a whole number'],
    [['policies', 'create', '--name', 'x', '--max-machines', '0'], 1, '/maxMachines: must be at least 1'],
    [['policies', 'create', '--name', 'x', '--key-prefix', 'no way'], 1, '/keyPrefix'],
    [['policies', 'create', '--name', 'x', '--bogus'], 2, "Unknown option '--bogus'"],
    [['licenses', 'create', '--policy', 'nope'], 1, 'UNKNOWN_POLICY'],
    [['licenses', 'create', '--policy', '01a21b05-0000-7000-8000-000000000000', '--expires-at', 'soon'], 2, '--expires-at must be an ISO 8601 date-time'],
    [['api-keys', 'create', '--name', 'x', '--scopes', 'machines:read,root'], 1, '/scopes/1: is not a scope: "root"'],
    [['api-keys', 'create', '--name', 'x'], 2, '--scopes is required'],
    [['frobnicate'], 2, 'unknown command: frobnicate'],
  ])('refuses %j with exit code %i and a clear message', async (args, code, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('writes nothing when it refuses', async () => {
    const before = await server.sql('select count(*)::int as n from policies');
    await cli('policies', 'create', '--name', 'x', '--max-machines', '0');
    expect(await server.sql('select count(*)::int as n from policies')).toEqual(before);
  });

  it('refuses a bad environment before touching anything', async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: 'short' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('LICENTRIC_SECRET must be at least 32 characters');
  });

  it('manages policies, licenses and API keys end to end, with the API shapes in --json', async () => {
    const json = async (...args: string[]) => {
      const result = await cli(...args, '--json');
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    const policy = await json(
      'policies', 'create', '--name', 'Beating', '--require-heartbeat', 'true', '--heartbeat-duration', '120',
      '--heartbeat-cull-strategy', 'KEEP_DEAD', '--heartbeat-resurrection-window', '60',
    );
    expect(policy).toMatchObject({ requireHeartbeat: true, heartbeatDuration: 120, heartbeatCullStrategy: 'KEEP_DEAD', heartbeatResurrectionWindow: 60, maxMachines: null });
    expect(await json('policies', 'get', policy.id)).toEqual(policy);
    expect((await json('policies', 'list', '--limit', '100')).data.map((p: { id: string }) => p.id)).toContain(policy.id);
    expect(await json('policies', 'update', policy.id, '--max-machines', '4', '--heartbeat-duration', '300')).toMatchObject({ maxMachines: 4, heartbeatDuration: 300 });
    expect(await json('policies', 'update', policy.id, '--max-machines', 'none')).toMatchObject({ maxMachines: null });

    const license = await json('licenses', 'create', '--policy', policy.id, '--name', 'cli');
    expect(await json('licenses', 'get', license.id)).toMatchObject({ id: license.id, name: 'cli', status: 'ACTIVE' });
    expect(await json('licenses', 'suspend', license.id)).toMatchObject({ status: 'SUSPENDED' });
    expect((await json('licenses', 'list', '--policy', policy.id, '--status', 'SUSPENDED')).data).toHaveLength(1);
    expect(await json('licenses', 'reinstate', license.id)).toMatchObject({ status: 'ACTIVE' });
    expect(await json('licenses', 'update', license.id, '--expires-at', '2031-01-01T00:00:00Z', '--name', 'none')).toMatchObject({
      expiresAt: '2031-01-01T00:00:00.000Z',
      name: null,
    });

    const refused = await cli('policies', 'delete', policy.id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('POLICY_IN_USE');
    expect(await json('licenses', 'delete', license.id)).toEqual({ id: license.id, deleted: true });
    expect(await json('policies', 'delete', policy.id)).toEqual({ id: policy.id, deleted: true });
    expect((await cli('policies', 'get', policy.id)).stderr).toContain('POLICY_NOT_FOUND');

    const key = await json('api-keys', 'create', '--name', 'to revoke', '--scopes', 'machines:read');
    const listed = await json('api-keys', 'list', '--limit', '100');
    expect(listed.data.map((k: { id: string }) => k.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.token);
    expect(await json('api-keys', 'revoke', key.id)).toMatchObject({ id: key.id, revokedAt: expect.any(String) });
    expect((await json('api-keys', 'list', '--limit', '100')).data.map((k: { id: string }) => k.id)).not.toContain(key.id);
    expect((await json('api-keys', 'list', '--limit', '100', '--include-revoked')).data.map((k: { id: string }) => k.id)).toContain(key.id);
  }, 90_000); // some twenty CLI processes, each a Node start: give a loaded machine room

  it('prints tables for people', async () => {
    await cli('policies', 'create', '--name', 'Tabled', '--max-machines', '7');
    const table = await cli('policies', 'list', '--limit', '100');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+MAX MACHINES\s+KEY PREFIX\s+HEARTBEAT/);
    expect(table.stdout).toMatch(/Tabled\s+7\s+LIC\s+not required/);
  });
});
