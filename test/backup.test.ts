import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import createClient from 'openapi-fetch';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { components, paths } from '../generated/api.d.ts';
import { bearer, createDatabase, licenseAuth, machineBody, type Problem } from './support/harness.ts';
import { ROOT, runCli, runProcess, type ServerProcess, startServerProcess } from './support/processes.ts';

/**
 * `licentric backup` and `licentric restore` of the embedded database, as an operator runs them:
 * the server and each command are processes of their own on one data folder. The pg_dump and
 * pg_restore are PostgreSQL 18's from `make pg-client` (a dependency of `make unit`).
 */

type License = components['schemas']['License'];
type Machine = components['schemas']['Machine'];

/** Three server starts, an initdb, a backup under load and a restore: minutes on a busy machine. */
const TIMEOUT = 240_000;

describe('licentric backup and restore', () => {
  const dirs: string[] = [];
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it(
    'backs up while the server serves heartbeats, and a restore into a wiped data folder brings every license and machine back',
    async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'licentric-backup-'));
      dirs.push(root);
      // Reachable by PostgreSQL's OS user when run as root: the cluster lives in the data folder,
      // and goes with it.
      await chmod(root, 0o755);
      const dataDir = path.join(root, 'data');
      const file = path.join(root, 'licentric.dump');
      // The default: the secret is the data folder's own file, which the wipe takes with it.
      const env = { LICENTRIC_DATA_DIR: dataDir, DATABASE_URL: '', LICENTRIC_SECRET: '', LICENTRIC_RATE_LIMITS: 'off' };

      server = await startServerProcess(env);
      const token = /\n {4}(lct_\w+)\n/.exec(server.stderr())?.[1];
      expect(token, server.stderr()).toBeDefined();
      const admin = bearer(token!);
      let api = createClient<paths>({ baseUrl: `http://127.0.0.1:${server.port}/api/v1` });

      // Policies, licenses, machines and their events, made through the API.
      const policy = await api.POST('/policies', { headers: admin, body: { name: 'two seats', maxMachines: 2 } });
      expect(policy.response.status, JSON.stringify(policy.error)).toBe(201);
      const open = await api.POST('/policies', {
        headers: admin,
        body: { name: 'heartbeats', requireHeartbeat: true, heartbeatDuration: 600 },
      });
      expect(open.response.status, JSON.stringify(open.error)).toBe(201);
      const keys = new Map<string, string>();
      const limited: string[] = [];
      for (const [policyId, count] of [
        [policy.data!.data.id, 2],
        [open.data!.data.id, 2],
      ] as const) {
        for (let i = 0; i < count; i++) {
          const created = await api.POST('/licenses', { headers: admin, body: { policyId, metadata: { i } } });
          expect(created.response.status, JSON.stringify(created.error)).toBe(201);
          keys.set(created.data!.data.id, created.data!.data.key);
          if (policyId === policy.data!.data.id) limited.push(created.data!.data.id);
        }
      }
      const machines: Machine[] = [];
      for (const [licenseId, key] of keys) {
        for (let i = 0; i < 2; i++) {
          const made = await api.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
          expect(made.response.status, JSON.stringify(made.error)).toBe(201);
          expect(made.data!.data.licenseId).toBe(licenseId);
          machines.push(made.data!.data);
        }
      }
      const keyOf = (machine: Machine) => keys.get(machine.licenseId)!;
      const heartbeat = (machine: Machine) =>
        api.POST('/machines/{id}/heartbeat', {
          headers: licenseAuth(keyOf(machine)),
          params: { path: { id: machine.id } },
        });
      const licensesBefore = await listLicenses(api, admin);
      const eventsBefore = await api.GET('/events', { headers: admin, params: { query: { limit: 100 } } });
      expect(eventsBefore.data!.data.length).toBeGreaterThanOrEqual(machines.length);

      // Every machine heartbeats without a pause while the backup runs beside the server.
      let backingUp = false;
      let stop = false;
      const answered: { status: number; duringBackup: boolean }[] = [];
      const load = Promise.all(
        machines.map(async (machine) => {
          while (!stop) {
            const duringBackup = backingUp;
            const { response } = await heartbeat(machine);
            answered.push({ status: response.status, duringBackup });
          }
        }),
      );
      try {
        while (answered.length < 50) await new Promise((resolve) => setImmediate(resolve));
        backingUp = true;
        const backup = await runCli(['backup', file], env);
        backingUp = false;
        expect(backup.code, backup.stderr).toBe(0);
        expect(backup.stdout).toContain('does not hold the server secret');
      } finally {
        stop = true;
        await load;
      }
      expect(answered.filter((a) => a.duringBackup).length).toBeGreaterThan(0);
      expect(answered.filter((a) => a.status !== 200)).toEqual([]);
      // Key hashes and sealed secrets: readable by its owner alone.
      expect(statSync(file).mode & 0o777).toBe(0o600);

      // After the backup: a license made and a machine deactivated, which the restore undoes.
      const later = await api.POST('/licenses', { headers: admin, body: { policyId: open.data!.data.id } });
      expect(later.response.status).toBe(201);
      const gone = machines[0]!;
      expect(
        (await api.DELETE('/machines/{id}', { headers: licenseAuth(keyOf(gone)), params: { path: { id: gone.id } } }))
          .response.status,
      ).toBe(200);

      // Under a running server, a restore is refused and changes nothing.
      const refused = await runCli(['restore', file], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/in use by pid \d+ \(a Licentric server\); stop it, then restore/);
      expect(
        (await api.GET('/licenses/{id}', { headers: admin, params: { path: { id: later.data!.data.id } } })).response
          .status,
      ).toBe(200);

      // The disaster: the server stopped and its data folder gone. The operator kept the secret.
      const secret = await readFile(path.join(dataDir, 'secret'), 'utf8');
      expect(await server.stop()).toBe(0);
      server = undefined;
      await rm(dataDir, { recursive: true, force: true });
      await mkdir(dataDir);
      expect(existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(false);

      // Without the secret, no restored key would authenticate: the restore says so first.
      const secretless = await runCli(['restore', file], env);
      expect(secretless.code).toBe(1);
      expect(secretless.stderr).toContain('put back the secret of the server the backup was made on');
      expect(existsSync(path.join(dataDir, 'secret'))).toBe(false);

      await writeFile(path.join(dataDir, 'secret'), secret, { mode: 0o600 });
      const restored = await runCli(['restore', file], env);
      expect(restored.code, restored.stderr).toBe(0);
      expect(restored.stdout).toContain('start the server');

      server = await startServerProcess(env);
      // Not a first start: the restored database has its API keys, and the old token is one.
      expect(server.stderr()).not.toContain('lct_');
      api = createClient<paths>({ baseUrl: `http://127.0.0.1:${server.port}/api/v1` });

      expect(await listLicenses(api, admin)).toEqual(licensesBefore);
      expect(
        (await api.GET('/licenses/{id}', { headers: admin, params: { path: { id: later.data!.data.id } } })).response
          .status,
      ).toBe(404);
      const listed = await api.GET('/machines', { headers: admin, params: { query: { limit: 100 } } });
      expect(listed.data!.data.map((m) => [m.id, m.licenseId, m.fingerprint]).sort()).toEqual(
        machines.map((m) => [m.id, m.licenseId, m.fingerprint]).sort(),
      );
      const events = await api.GET('/events', { headers: admin, params: { query: { limit: 100 } } });
      expect(events.data!.data.map((e) => e.id)).toEqual(
        expect.arrayContaining(eventsBefore.data!.data.map((e) => e.id)),
      );

      // Every key authenticates, every machine (the deactivated one too) heartbeats, limits hold.
      for (const [licenseId, key] of keys) {
        const validation = await api.POST('/licenses/actions/validate', { headers: licenseAuth(key) });
        expect(validation.response.status).toBe(200);
        expect(validation.data!.data).toMatchObject({ valid: true, code: 'VALID', license: { id: licenseId } });
      }
      for (const machine of machines) expect((await heartbeat(machine)).response.status).toBe(200);
      for (const licenseId of limited) {
        const third = await api.POST('/machines', { headers: licenseAuth(keys.get(licenseId)!), body: machineBody() });
        expect(third.response.status).toBe(422);
        expect((third.error as Problem).code).toBe('MACHINE_LIMIT_EXCEEDED');
      }
    },
    TIMEOUT,
  );

  it('says what is missing when the PostgreSQL client tools are absent or of another version', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'licentric-backup-tools-'));
    dirs.push(root);
    await chmod(root, 0o755);
    const dataDir = path.join(root, 'data');
    const env = { LICENTRIC_DATA_DIR: dataDir, DATABASE_URL: '', LICENTRIC_SECRET: '' };
    expect((await runCli(['migrate'], env)).code).toBe(0);

    const missing = await runCli(['backup', path.join(root, 'a.dump')], {
      ...env,
      LICENTRIC_PG_BIN: path.join(root, 'none'),
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${path.join(root, 'none', 'pg_dump')} does not run`);
    expect(missing.stderr).toContain("run 'make pg-client'");

    // A pg_dump of another major version, as a distribution's package often is.
    const old = path.join(root, 'old');
    await mkdir(old);
    for (const tool of ['pg_dump', 'pg_restore'])
      await writeFile(path.join(old, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) 15.18"\n`, { mode: 0o755 });
    const mismatched = await runCli(['backup', path.join(root, 'a.dump')], { ...env, LICENTRIC_PG_BIN: old });
    expect(mismatched.code).toBe(1);
    expect(mismatched.stderr).toContain('is pg_dump (PostgreSQL) 15.18, and the database is PostgreSQL 18');
    expect(existsSync(path.join(root, 'a.dump'))).toBe(false);

    const external = await runCli(['backup', path.join(root, 'a.dump')], {
      ...env,
      DATABASE_URL: 'postgresql://licentric@db.invalid/licentric',
      LICENTRIC_SECRET: 'x'.repeat(40),
    });
    expect(external.code).toBe(1);
    expect(external.stderr).toContain("its own pg_dump and pg_restore back up (README, 'Backups and restore')");
  }, 120_000);
});

describe("the README's commands for an external database", () => {
  it('back up one database and restore it into another, rows and all', async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Backups and restore'), readme.indexOf('### Upgrading'));
    const commands = /```sh\n([\s\S]*?)```/
      .exec(section)![1]!
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(commands).toHaveLength(2);
    const [dump, restore] = commands as [string, string];

    const source = await createDatabase();
    const product = '01a2c0de-0000-7000-8000-000000000001';
    await sql(
      source,
      `insert into products (id, name, code, metadata, created_at, updated_at)
       values ('${product}', 'Studio', 'STUDIO', '{"tier":"pro"}', now(), now())`,
    );
    const target = await createDatabase();
    // The README's target is empty: drop what the template gave this one.
    await sql(target, 'drop schema public cascade; create schema public');
    const dir = await mkdtemp(path.join(tmpdir(), 'licentric-external-'));
    const tools = readdirSync(path.join(ROOT, '.tools')).filter((name) => name.startsWith('postgresql-18.'));
    expect(tools, "run 'make pg-client'").not.toEqual([]);
    const env = { PATH: `${path.join(ROOT, '.tools', tools.at(-1)!, 'bin')}:${process.env.PATH}` };
    try {
      const dumped = await runProcess('bash', ['-c', `cd ${dir} && ${dump}`], { ...env, DATABASE_URL: source });
      expect(dumped.code, dumped.stderr).toBe(0);
      const restored = await runProcess('bash', ['-c', `cd ${dir} && ${restore}`], { ...env, DATABASE_URL: target });
      expect(restored.code, restored.stderr).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const migrations = 'select name from mikro_orm_migrations order by id';
    expect(await sql(target, migrations)).toEqual(await sql(source, migrations));
    expect(await sql(target, 'select id, code, metadata from products')).toEqual([
      { id: product, code: 'STUDIO', metadata: { tier: 'pro' } },
    ]);
  });
});

async function sql(url: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(text);
    return (Array.isArray(result) ? result.at(-1)! : result).rows;
  } finally {
    await client.end();
  }
}

/** Every license, in the API's shape. */
async function listLicenses(api: ReturnType<typeof createClient<paths>>, admin: Record<string, string>) {
  const listed = await api.GET('/licenses', { headers: admin, params: { query: { limit: 100 } } });
  expect(listed.response.status).toBe(200);
  return listed.data!.data as License[];
}
