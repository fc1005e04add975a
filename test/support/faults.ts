import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export { freePort } from '../../src/db/embedded.ts';

import { type CliResult, ROOT, type ServerProcess } from './processes.ts';

/**
 * What the fault tests share: throw-away data folders, a license made through the API, the
 * embedded PostgreSQL of a data folder, and tallies of what clients were told.
 */

/** Folders made by a test file; `removeAll` in its afterAll. */
export class TempDirs {
  readonly #dirs: string[] = [];

  async make(prefix = 'licentric-fault-'): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.#dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Embedded mode in `dataDir`, as `make run` uses it. */
export function embeddedEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LICENTRIC_DATA_DIR: dataDir,
    DATABASE_URL: '',
    LICENTRIC_SECRET: '',
    LICENTRIC_CULL_IN_SERVER: 'false',
    ...extra,
  };
}

/** The admin API key a server prints on its first start. */
export function firstAdminToken(server: ServerProcess): string {
  const token = /\n {4}(lct_\w+)\n/.exec(server.stderr())?.[1];
  if (!token) throw new Error(`no first admin key in:\n${server.stderr()}`);
  return token;
}

export interface Seeded {
  api: string;
  licenseId: string;
  key: string;
}

/** A policy without a machine limit and a license under it, made through the API. */
export async function seedThroughApi(server: ServerProcess, adminToken: string): Promise<Seeded> {
  const api = `http://127.0.0.1:${server.port}/api/v1`;
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${api}${route}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`POST ${route}: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { data: { id: string; key?: string } }).data;
  };
  const policy = await post('/policies', { name: 'faults', keyPrefix: 'FLT' });
  const license = await post('/licenses', { policyId: policy.id });
  return { api, licenseId: license.id, key: license.key! };
}

export function activate(seeded: Seeded, fingerprint: string): Promise<Outcome> {
  return send(`${seeded.api}/machines`, {
    method: 'POST',
    headers: { Authorization: `License ${seeded.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ fingerprint }),
  });
}

/** What a client was told: a status with its headers, or the transport error it got instead. */
export type Outcome = { status: number; headers: Headers; body: string; ms: number } | { error: string; ms: number };

export async function send(url: string, init: RequestInit = {}): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    return { status: response.status, headers: response.headers, body, ms: performance.now() - started };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? String(error), ms: performance.now() - started };
  }
}

/** Counts of outcomes by status or error code, for assertions and for the printed summary. */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly outcomes: Outcome[] = [];

  add(outcome: Outcome): void {
    this.outcomes.push(outcome);
    const key = 'error' in outcome ? outcome.error : String(outcome.status);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get total(): number {
    return this.outcomes.length;
  }

  count(key: string | number): number {
    return this.counts.get(String(key)) ?? 0;
  }

  toString(): string {
    return [...this.counts].map(([k, n]) => `${k}×${n}`).join(' ') || 'none';
  }
}

/** Polls `check` until it holds; fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Where the data folder's cluster lives, and its postmaster (pid, port) if one runs. */
export function postmasterOf(dataDir: string): { clusterDir: string; pid?: number; port?: number } {
  let clusterDir = path.join(dataDir, 'pg');
  try {
    clusterDir = readFileSync(path.join(dataDir, 'pg-location'), 'utf8').trim();
  } catch {
    // in the data folder
  }
  try {
    const lines = readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
    return { clusterDir, pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return { clusterDir };
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // An exited process its parent has not collected yet (a zombie) runs no more.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** A client on the database of a data folder's running embedded PostgreSQL. */
export async function connectEmbedded(dataDir: string): Promise<pg.Client> {
  const { port } = postmasterOf(dataDir);
  const { password } = JSON.parse(readFileSync(path.join(dataDir, 'pg-credentials.json'), 'utf8')) as {
    password: string;
  };
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'licentric' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * `licentric serve` expected to fail at start: its exit code and output. A server that starts
 * instead is stopped after `ms`, with `code` null, so the test fails rather than hangs.
 */
export function serveExpectingFailure(env: Record<string, string>, ms = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'src', 'cli.ts'), 'serve'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), ms);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: sig === 'SIGTERM' ? null : code, stdout, stderr });
    });
  });
}
