import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activate,
  bearer,
  licenseAuth,
  seedApiKey,
  seedLicense,
  TEST_SECRET,
  useTestServer,
} from './support/harness.ts';

/**
 * Two replicas on one database: the test's in-process server (A) and `licentric serve` in a
 * process of its own (B). Each caches key lookups; a change made through either must be seen at
 * once by the one that made it and within a second by the other.
 */
const a = useTestServer();
const ROOT = path.resolve(import.meta.dirname, '..');
let b: { apiUrl: string; child: ChildProcess; dataDir: string };

beforeAll(async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-replica-'));
  const child = spawn(process.execPath, ['src/cli.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: a.databaseUrl,
      LICENTRIC_SECRET: TEST_SECRET,
      LICENTRIC_DATA_DIR: dataDir,
      LICENTRIC_CULL_IN_SERVER: 'false',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`replica B exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'listening') resolve(entry.port!);
    });
  });
  b = { apiUrl: `http://127.0.0.1:${port}/api/v1`, child, dataDir };
}, 60_000);

afterAll(async () => {
  if (b?.child.exitCode === null) {
    const exited = new Promise((resolve) => b.child.once('exit', resolve));
    b.child.kill('SIGTERM');
    await exited;
  }
  if (b) await rm(b.dataDir, { recursive: true, force: true });
});

async function heartbeat(apiUrl: string, key: string, id: string): Promise<number> {
  return (await fetch(`${apiUrl}/machines/${id}/heartbeat`, { method: 'POST', headers: licenseAuth(key) })).status;
}

/** Milliseconds until `probe` first answers `status`, polling; fails past `limitMs`. */
async function msUntil(probe: () => Promise<number>, status: number, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if ((await probe()) === status) return elapsed;
    if (elapsed > limitMs) throw new Error(`still not ${status} after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the authentication cache across two server processes', () => {
  it('a suspension made on A is refused at once on A and within a second on B', async () => {
    const { key, licenseId } = await seedLicense(a);
    const { id } = await activate(a, key);
    // Both replicas have the live license cached.
    expect(await heartbeat(a.apiUrl, key, id)).toBe(200);
    expect(await heartbeat(b.apiUrl, key, id)).toBe(200);
    const admin = await seedApiKey(a, ['licenses:write']);

    const suspended = await a.client.POST('/licenses/{id}/actions/suspend', {
      params: { path: { id: licenseId } },
      headers: bearer(admin),
    });
    expect(suspended.response.status).toBe(200);
    expect(await heartbeat(a.apiUrl, key, id)).toBe(403);
    expect(await msUntil(() => heartbeat(b.apiUrl, key, id), 403, 1000)).toBeLessThan(1000);
  });

  it('a license deleted on B stops authenticating on A within a second', async () => {
    const { key, licenseId } = await seedLicense(a);
    const { id } = await activate(a, key);
    expect(await heartbeat(a.apiUrl, key, id)).toBe(200);
    const admin = await seedApiKey(a, ['licenses:write']);
    const deleted = await fetch(`${b.apiUrl}/licenses/${licenseId}`, { method: 'DELETE', headers: bearer(admin) });
    expect(deleted.status).toBe(200);
    expect(await heartbeat(b.apiUrl, key, id)).toBe(401);
    expect(await msUntil(() => heartbeat(a.apiUrl, key, id), 401, 1000)).toBeLessThan(1000);
  });

  it('an API key revoked on B is refused at once on B and within a second on A', async () => {
    const { apiKey, token: reader } = await a.services().apiKeys.create({ name: 'reader', scopes: ['machines:read'] });
    const list = (apiUrl: string) =>
      fetch(`${apiUrl}/machines?limit=1`, { headers: bearer(reader) }).then((r) => r.status);
    expect(await list(a.apiUrl)).toBe(200);
    expect(await list(b.apiUrl)).toBe(200);
    const admin = await seedApiKey(a, ['admin']);
    const revoked = await fetch(`${b.apiUrl}/api-keys/${apiKey.id}`, { method: 'DELETE', headers: bearer(admin) });
    expect(revoked.status).toBe(200);
    expect(await list(b.apiUrl)).toBe(401);
    expect(await msUntil(() => list(a.apiUrl), 401, 1000)).toBeLessThan(1000);
  });

  it('serves a cached key without the database until a notification says otherwise', async () => {
    const { key, licenseId } = await seedLicense(a);
    const { id } = await activate(a, key);
    expect(await heartbeat(b.apiUrl, key, id)).toBe(200);
    // A change that notifies nobody (triggers off in this session): B goes on answering from its
    // cache, which is what spares it the lookup; its TTL is the net for exactly this.
    await a.sql(
      `begin; set local session_replication_role = replica;
       update licenses set suspended_at = now() where id = '${licenseId}'; commit`,
    );
    expect(await heartbeat(b.apiUrl, key, id)).toBe(200);
    await a.sql(`select pg_notify('licentric_auth', 'licenses')`);
    expect(await msUntil(() => heartbeat(b.apiUrl, key, id), 403, 1000)).toBeLessThan(1000);
  });
});
