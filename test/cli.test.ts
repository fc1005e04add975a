import { describe, expect, it } from 'vitest';
import { bearer, licenseAuth, machineBody, TEST_SECRET, useTestServer } from './support/harness.ts';
import { runCli } from './support/processes.ts';

const server = useTestServer();

/** The CLI on this file's database, with the server's secret: what it creates, the server accepts. */
/**
 * Every test here runs CLI processes, each starting Node and connecting to PostgreSQL: under a
 * second alone, several on a machine busy with other test runs (the longest flow, some twenty
 * processes, was measured at 93 s there).
 */
const CLI_TIMEOUT = 300_000;

const cli = (...args: string[]) =>
  runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });

describe('the CLI', { timeout: CLI_TIMEOUT }, () => {
  it('creates a policy, a license and an API key whose credentials work against the API', async () => {
    const policy = await cli(
      'policies',
      'create',
      '--name',
      'Desktop',
      '--max-machines',
      '2',
      '--key-prefix',
      'DSK',
      '--json',
    );
    expect(policy.code, policy.stderr).toBe(0);
    const p = JSON.parse(policy.stdout);
    expect(p).toMatchObject({ name: 'Desktop', maxMachines: 2, keyPrefix: 'DSK', id: expect.any(String) });

    const license = await cli('licenses', 'create', '--policy', p.id, '--expires-at', '2030-01-01T00:00:00Z', '--json');
    expect(license.code, license.stderr).toBe(0);
    const l = JSON.parse(license.stdout);
    expect(l).toMatchObject({
      policyId: p.id,
      expiresAt: '2030-01-01T00:00:00.000Z',
      key: expect.stringMatching(/^DSK-(\w{5}-){3}\w{5}$/),
    });

    const apiKey = await cli(
      'api-keys',
      'create',
      '--name',
      'backend',
      '--scopes',
      'machines:read,machines:write',
      '--json',
    );
    expect(apiKey.code, apiKey.stderr).toBe(0);
    const k = JSON.parse(apiKey.stdout);
    expect(k).toMatchObject({
      name: 'backend',
      scopes: ['machines:read', 'machines:write'],
      token: expect.stringMatching(/^lct_/),
    });

    const activated = await server.client.POST('/machines', { headers: licenseAuth(l.key), body: machineBody() });
    expect(activated.response.status).toBe(201);
    expect(activated.data!.data.licenseId).toBe(l.id);
    const listed = await server.client.GET('/machines', {
      headers: bearer(k.token),
      params: { query: { licenseId: l.id } },
    });
    expect(listed.data!.data.map((m) => m.id)).toEqual([activated.data!.data.id]);

    // Keys are stored only as keyed hashes.
    const rows = await server.sql<{ key_hash: Buffer }>('select key_hash from licenses where id = $1', [l.id]);
    expect(rows[0]!.key_hash).toHaveLength(32);
    expect(rows[0]!.key_hash.toString('latin1')).not.toContain(l.key);
  });

  it('manages products, and puts policies and API keys under one by its code', async () => {
    const created = await cli('products', 'create', '--name', 'Desktop', '--code', 'CLI_DESKTOP', '--json');
    expect(created.code, created.stderr).toBe(0);
    const product = JSON.parse(created.stdout);
    expect(product).toMatchObject({ name: 'Desktop', code: 'CLI_DESKTOP', url: null });

    const policy = JSON.parse(
      (await cli('policies', 'create', '--name', 'P', '--product', 'CLI_DESKTOP', '--json')).stdout,
    );
    expect(policy.productId).toBe(product.id);
    const unknown = await cli('policies', 'create', '--name', 'P', '--product', 'CLI_NOPE');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('CLI_NOPE');

    const key = await cli(
      'api-keys',
      'create',
      '--name',
      'k',
      '--scopes',
      'licenses:read',
      '--product',
      product.id,
      '--json',
    );
    expect(key.code, key.stderr).toBe(0);
    expect(JSON.parse(key.stdout).productId).toBe(product.id);
    const refused = await cli('api-keys', 'create', '--name', 'k', '--scopes', 'admin', '--product', 'CLI_DESKTOP');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('admin');

    const listed = await cli('products', 'list');
    expect(listed.stdout).toContain('CLI_DESKTOP');
    const inUse = await cli('products', 'delete', product.id);
    expect(inUse.code).not.toBe(0);
    expect(
      JSON.parse((await cli('policies', 'update', policy.id, '--product', 'none', '--json')).stdout).productId,
    ).toBeNull();
    const updated = await cli('products', 'update', product.id, '--url', 'https://example.com', '--json');
    expect(JSON.parse(updated.stdout).url).toBe('https://example.com');
    expect((await cli('products', 'delete', product.id)).code).toBe(0);
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
    [['policies', 'create', '--name', 'x', '--bogus'], 2, 'unknown option --bogus'],
    [['licenses', 'create', '--policy', 'nope'], 1, 'UNKNOWN_POLICY'],
    [
      ['licenses', 'create', '--policy', '01a21b05-0000-7000-8000-000000000000', '--expires-at', 'soon'],
      2,
      '--expires-at must be an ISO 8601 date-time',
    ],
    [
      ['api-keys', 'create', '--name', 'x', '--scopes', 'machines:read,root'],
      2,
      "'root' is not a scope. The scopes are machines:read, machines:write, licenses:read, licenses:write, policies:read, policies:write, products:read, products:write, entitlements:read, entitlements:write, events:read, webhooks:write, signing-keys:write, admin.",
    ],
    [['api-keys', 'create', '--name', 'x'], 2, '--scopes is required'],
    [['frobnicate'], 2, "unknown command 'frobnicate'"],
  ])('refuses %j with exit code %i and a clear message', async (args, code, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it.each([
    [['licences', 'list'], "licentric: unknown command 'licences'; did you mean 'licenses'?", 'licenses'],
    [['licenses', 'lst'], "licentric: 'lst' is not a licenses command; did you mean 'list'?", 'licenses'],
    [['policies', 'create', '--nam', 'x'], 'licentric: unknown option --nam; did you mean --name?', 'policies'],
    [
      ['licenses', 'list', '--status', 'active'],
      "licentric: --status must be one of ACTIVE, SUSPENDED, EXPIRED; did you mean 'ACTIVE'?",
      'licenses',
    ],
    [
      ['machines', 'list', '--status', 'dead'],
      "licentric: --status must be one of NOT_REQUIRED, ALIVE, DEAD; did you mean 'DEAD'?",
      'machines',
    ],
    [
      ['api-keys', 'create', '--name', 'x', '--scopes', 'machine:read'],
      "licentric: 'machine:read' is not a scope; did you mean 'machines:read'? The scopes are machines:read,",
      'api-keys',
    ],
    [['machines', 'get'], 'licentric: the ID is missing', 'machines'],
    [['frobnicate'], "licentric: unknown command 'frobnicate'", undefined],
  ])('%j: one line of what is wrong, then which help to read, never the whole help', async (args, line, group) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(line);
    expect(lines[1]).toBe(`see 'licentric ${group ? `${group} ` : ''}--help'`);
    expect(result.stdout).toBe('');
  });

  it("shows a group's help for the group alone, and for --help anywhere in it", async () => {
    const alone = await cli('licenses');
    expect(alone.code).toBe(2);
    expect(alone.stdout).toMatch(/^Usage: licentric licenses <command>/);
    expect(alone.stdout).toContain('licentric licenses create --policy POLICY_ID');
    expect(alone.stdout).not.toContain('licentric policies');
    for (const args of [
      ['licenses', '--help'],
      ['licenses', 'create', '--help'],
    ]) {
      const help = await cli(...args);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout).toBe(alone.stdout);
    }
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const group of ['policies', 'licenses', 'machines', 'api-keys'])
      expect(top.stdout).toContain(`licentric ${group} list`);
  });

  it('refuses a license expiry that has passed, on create and update, like the API', async () => {
    const policy = JSON.parse((await cli('policies', 'create', '--name', 'Expiring', '--json')).stdout);
    const past = await cli('licenses', 'create', '--policy', policy.id, '--expires-at', '2020-01-01T00:00:00Z');
    expect(past.code).toBe(1);
    expect(past.stderr).toContain('EXPIRES_IN_PAST');
    expect(await server.sql('select count(*)::int as n from licenses where policy_id = $1', [policy.id])).toEqual([
      { n: 0 },
    ]);
    const license = JSON.parse(
      (await cli('licenses', 'create', '--policy', policy.id, '--expires-at', '2099-01-01T00:00:00Z', '--json')).stdout,
    );
    const update = await cli('licenses', 'update', license.id, '--expires-at', '2020-01-01T00:00:00Z');
    expect(update.code).toBe(1);
    expect(update.stderr).toContain('EXPIRES_IN_PAST');
    expect(JSON.parse((await cli('licenses', 'get', license.id, '--json')).stdout).expiresAt).toBe(
      '2099-01-01T00:00:00.000Z',
    );
  });

  it('lists, reads and deactivates machines, with the API shapes in --json', async () => {
    const admin = bearer(
      JSON.parse((await cli('api-keys', 'create', '--name', 'm', '--scopes', 'admin', '--json')).stdout).token,
    );
    const policy = JSON.parse((await cli('policies', 'create', '--name', 'Seats', '--json')).stdout);
    const license = JSON.parse((await cli('licenses', 'create', '--policy', policy.id, '--json')).stdout);
    const other = JSON.parse((await cli('licenses', 'create', '--policy', policy.id, '--json')).stdout);
    const a = (
      await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody({ name: 'alpha' }) })
    ).data!.data;
    const b = (await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() })).data!
      .data;
    await server.client.POST('/machines', { headers: licenseAuth(other.key), body: machineBody() });

    const json = async (...args: string[]) => {
      const result = await cli(...args, '--json');
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    const listed = await json('machines', 'list', '--license', license.id);
    const viaApi = await server.client.GET('/machines', {
      headers: admin,
      params: { query: { licenseId: license.id } },
    });
    expect(listed).toEqual(viaApi.data);
    expect(listed.data.map((m: { id: string }) => m.id)).toEqual([a.id, b.id]);
    expect((await json('machines', 'list', '--license', license.id, '--status', 'NOT_REQUIRED')).data).toHaveLength(2);
    expect((await json('machines', 'list', '--license', license.id, '--status', 'DEAD')).data).toHaveLength(0);

    expect(await json('machines', 'get', a.id)).toEqual(
      (await server.client.GET('/machines/{id}', { headers: admin, params: { path: { id: a.id } } })).data!.data,
    );
    expect(await json('machines', 'deactivate', a.id)).toEqual({ id: a.id, deleted: true });
    expect((await json('machines', 'get', a.id)).deactivationReason).toBe('MANUAL');
    expect((await json('machines', 'list', '--license', license.id)).data.map((m: { id: string }) => m.id)).toEqual([
      b.id,
    ]);
    expect(
      (await json('machines', 'list', '--license', license.id, '--include-deactivated')).data.map(
        (m: { id: string }) => m.id,
      ),
    ).toEqual([a.id, b.id]);

    const human = await cli('machines', 'list', '--license', license.id, '--include-deactivated');
    expect(human.stdout).toMatch(/^ID\s+FINGERPRINT\s+LICENSE\s+HEARTBEAT\s+LAST HEARTBEAT\s+DEACTIVATED\s+NAME/);
    expect(human.stdout).toMatch(new RegExp(`${a.id}.*\\(MANUAL\\)\\s+alpha`));
    const missing = await cli('machines', 'get', '01a21b05-0000-7000-8000-000000000000');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('MACHINE_NOT_FOUND');
  });

  it('lists, reads and releases processes, with the API shapes in --json', async () => {
    // The CLI reads leases on the real clock: the server spawns on it too, so both see them alive.
    server.clock.set(new Date());
    const admin = bearer(
      JSON.parse((await cli('api-keys', 'create', '--name', 'p', '--scopes', 'admin', '--json')).stdout).token,
    );
    const policy = JSON.parse(
      (
        await cli(
          'policies',
          'create',
          '--name',
          'Farm',
          '--max-processes',
          '2',
          '--process-leasing-strategy',
          'PER_LICENSE',
          '--process-heartbeat-duration',
          '300',
          '--json',
        )
      ).stdout,
    );
    expect(policy).toMatchObject({
      maxProcesses: 2,
      processLeasingStrategy: 'PER_LICENSE',
      processHeartbeatDuration: 300,
    });
    const license = JSON.parse((await cli('licenses', 'create', '--policy', policy.id, '--json')).stdout);
    const machine = (await server.client.POST('/machines', { headers: licenseAuth(license.key), body: machineBody() }))
      .data!.data;
    const spawn = async () =>
      (
        await server.client.POST('/machines/{id}/processes', {
          headers: licenseAuth(license.key),
          params: { path: { id: machine.id } },
          body: { pid: 'node-1' },
        })
      ).data!.data;
    const [a, b] = [await spawn(), await spawn()];
    const json = async (...args: string[]) => {
      const result = await cli(...args, '--json');
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    const listed = await json('processes', 'list', '--machine', machine.id);
    const viaApi = await server.client.GET('/processes', {
      headers: admin,
      params: { query: { machineId: machine.id } },
    });
    expect(listed).toEqual(viaApi.data);
    expect(listed.data.map((p: { id: string }) => p.id)).toEqual([a.id, b.id]);
    expect(await json('processes', 'get', a.id)).toEqual(a);
    expect(await json('processes', 'release', a.id)).toEqual({ id: a.id, deleted: true });
    const human = await cli('processes', 'list', '--license', license.id);
    expect(human.stdout).toMatch(/^ID\s+MACHINE\s+LICENSE\s+PID\s+HEARTBEAT\s+LEASE EXPIRES/);
    expect(human.stdout).toContain(b.id);
    expect(human.stdout).not.toContain(a.id);
    const missing = await cli('processes', 'get', a.id);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('PROCESS_NOT_FOUND');
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

  // Some twenty CLI processes one after another: 30 s is not enough on a loaded machine.
  it('manages policies, licenses and API keys end to end, with the API shapes in --json', async () => {
    const json = async (...args: string[]) => {
      const result = await cli(...args, '--json');
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout);
    };
    const policy = await json(
      'policies',
      'create',
      '--name',
      'Beating',
      '--require-heartbeat',
      'true',
      '--heartbeat-duration',
      '120',
      '--heartbeat-cull-strategy',
      'KEEP_DEAD',
      '--heartbeat-resurrection-window',
      '60',
    );
    expect(policy).toMatchObject({
      requireHeartbeat: true,
      heartbeatDuration: 120,
      heartbeatCullStrategy: 'KEEP_DEAD',
      heartbeatResurrectionWindow: 60,
      maxMachines: null,
    });
    expect(await json('policies', 'get', policy.id)).toEqual(policy);
    expect((await json('policies', 'list', '--limit', '100')).data.map((p: { id: string }) => p.id)).toContain(
      policy.id,
    );
    expect(
      await json('policies', 'update', policy.id, '--max-machines', '4', '--heartbeat-duration', '300'),
    ).toMatchObject({ maxMachines: 4, heartbeatDuration: 300 });
    expect(await json('policies', 'update', policy.id, '--max-machines', 'none')).toMatchObject({ maxMachines: null });

    const license = await json('licenses', 'create', '--policy', policy.id, '--name', 'cli');
    expect(await json('licenses', 'get', license.id)).toMatchObject({ id: license.id, name: 'cli', status: 'ACTIVE' });
    expect(await json('licenses', 'suspend', license.id)).toMatchObject({ status: 'SUSPENDED' });
    expect((await json('licenses', 'list', '--policy', policy.id, '--status', 'SUSPENDED')).data).toHaveLength(1);
    expect(await json('licenses', 'reinstate', license.id)).toMatchObject({ status: 'ACTIVE' });
    expect(
      await json('licenses', 'update', license.id, '--expires-at', '2031-01-01T00:00:00Z', '--name', 'none'),
    ).toMatchObject({
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
    expect((await json('api-keys', 'list', '--limit', '100')).data.map((k: { id: string }) => k.id)).not.toContain(
      key.id,
    );
    expect(
      (await json('api-keys', 'list', '--limit', '100', '--include-revoked')).data.map((k: { id: string }) => k.id),
    ).toContain(key.id);
  }, 120_000);

  it('prints tables for people', async () => {
    await cli('policies', 'create', '--name', 'Tabled', '--max-machines', '7');
    const table = await cli('policies', 'list', '--limit', '100');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+MAX MACHINES\s+KEY PREFIX\s+HEARTBEAT/);
    expect(table.stdout).toMatch(/Tabled\s+7\s+LIC\s+not required/);
  });
});
