import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWhole, loadOrCreateCredentials } from '../src/db/embedded.ts';
import { runCli, startServerProcess } from './support/processes.ts';

/**
 * The default on a bare machine: no DATABASE_URL, a real PostgreSQL started from the data
 * folder, shared by the server and the CLI, kept across restarts.
 */
/**
 * PostgreSQL starts (fresh initdbs among them), servers and CLI processes: 4–12 s per test
 * alone, past 30 s on a machine busy with other test runs.
 */
const LIFECYCLE_TIMEOUT = 120_000;

describe('embedded mode (no DATABASE_URL)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  // Two server starts and several CLI processes: 30 s is not enough on a loaded machine.
  it(
    'serves, shares its database with the CLI while running, and keeps data across restarts',
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-embedded-'));
      dirs.push(dataDir);
      const env = { LICENTRIC_DATA_DIR: dataDir, DATABASE_URL: '', LICENTRIC_SECRET: '' };

      const first = await startServerProcess(env);
      const api = `http://127.0.0.1:${first.port}/api/v1`;
      try {
        // First start on an empty database: a one-time admin key, printed once.
        const adminToken = /\n {4}(lct_\w+)\n/.exec(first.stderr())?.[1];
        expect(adminToken, first.stderr()).toBeDefined();
        expect((await fetch(`${api}/machines`, { headers: { Authorization: `Bearer ${adminToken}` } })).status).toBe(
          200,
        );
        // The hint beside it is a whole command: pasted as printed, it makes a key.
        const hint = /\n {4}licentric (api-keys create .+)\n/.exec(first.stderr())?.[1];
        expect(hint, first.stderr()).toBeDefined();
        const hinted = await runCli(hint!.split(' '), env);
        expect(hinted.code, hinted.stderr).toBe(0);
        expect(hinted.stdout).toContain('shown only this once');
        // The single-node default runs the culling worker inside the server.
        expect(first.logs().some((l) => l.msg === 'cull worker scheduled' && l.cron === '* * * * *')).toBe(true);

        // The CLI finds the running PostgreSQL and writes to the same database.
        const [policy, apiKey] = await Promise.all([
          runCli(['policies', 'create', '--name', 'Embedded', '--max-machines', '1', '--json'], env),
          runCli(['api-keys', 'create', '--name', 'reader', '--scopes', 'machines:read', '--json'], env),
        ]);
        expect(policy.code, policy.stderr).toBe(0);
        expect(apiKey.code, apiKey.stderr).toBe(0);
        const license = await runCli(['licenses', 'create', '--policy', JSON.parse(policy.stdout).id, '--json'], env);
        expect(license.code, license.stderr).toBe(0);
        const { key } = JSON.parse(license.stdout);

        const activated = await fetch(`${api}/machines`, {
          method: 'POST',
          headers: { Authorization: `License ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ fingerprint: 'embedded-fingerprint' }),
        });
        expect(activated.status).toBe(201);
        expect((await readFile(path.join(dataDir, 'secret'), 'utf8')).trim().length).toBeGreaterThanOrEqual(32);
      } finally {
        expect(await first.stop()).toBe(0);
      }
      // The server started PostgreSQL, so stopping the server stopped it.
      expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

      const second = await startServerProcess(env);
      try {
        expect(second.stderr()).not.toContain('First start');
        const reader = await runCli(
          ['api-keys', 'create', '--name', 'again', '--scopes', 'machines:read', '--json'],
          env,
        );
        const { token } = JSON.parse(reader.stdout);
        const listed = await fetch(`http://127.0.0.1:${second.port}/api/v1/machines`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        const body = (await listed.json()) as { data: { fingerprint: string }[] };
        expect(body.data.map((m) => m.fingerprint)).toEqual(['embedded-fingerprint']);
      } finally {
        expect(await second.stop()).toBe(0);
      }
    },
    LIFECYCLE_TIMEOUT,
  );

  it(
    'the CLI alone starts and stops the embedded database itself',
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-embedded-'));
      dirs.push(dataDir);
      const env = { LICENTRIC_DATA_DIR: dataDir, DATABASE_URL: '', LICENTRIC_SECRET: '' };
      const result = await runCli(['migrate'], env);
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
      expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    },
    LIFECYCLE_TIMEOUT,
  );
});

describe('the files a data folder gets when processes start on it at once', () => {
  // Two servers started at once on one folder: the second read the credentials file the first had
  // created but not yet written, and stopped with "SyntaxError: Unexpected end of JSON input"
  // where it should have said the folder is in use (test/faults.embedded.test.ts, once in three
  // fresh-clone runs). The window is one system call wide; this holds the contract that closed it.
  it('are created once and whole: every start reads the same credentials, no scratch file stays', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-credentials-'));
    try {
      const all = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateCredentials(dataDir)));
      expect(new Set(all.map((c) => c.password)).size).toBe(1);
      expect(readdirSync(dataDir)).toEqual(['pg-credentials.json']);
      const created = await Promise.all(
        Array.from({ length: 20 }, (_, i) => createWhole(path.join(dataDir, 'lock'), String(i), 0o644)),
      );
      expect(created.filter(Boolean)).toHaveLength(1);
      expect(await readFile(path.join(dataDir, 'lock'), 'utf8')).toBe(String(created.indexOf(true)));
      expect(readdirSync(dataDir).sort()).toEqual(['lock', 'pg-credentials.json']);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
