import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedDatabase, startEmbeddedDatabase } from '../../src/db/embedded.ts';
import { initOrm, migrate } from '../../src/db/orm.ts';
import { ENTITIES } from '../../src/entities.ts';
import { createLogger } from '../../src/log.ts';

export const log = createLogger('warn', process.stderr);

/**
 * The PostgreSQL server a bench runs on: the embedded one in a throw-away folder, or the server
 * of DATABASE_URL. Benches make their own databases on it (`licentric_bench_…`), so a template
 * copy gives each measured variant identical data, and drop them when done.
 */
export interface BenchCluster {
  /** Where the numbers came from: "embedded" or "DATABASE_URL". */
  source: string;
  version: string;
  /** The settings that move these numbers most, as the server reports them. */
  settings: Record<string, string>;
  urlOf(database: string): string;
  admin: pg.Client;
  createDatabase(name: string, template?: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  close(): Promise<void>;
}

export const DATABASE_PREFIX = 'licentric_bench_';

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (stopping = true));
/**
 * While PostgreSQL stops on Ctrl-C, it ends our open connections, and their 'error' events have
 * no one waiting: they must not kill the process before the exit hook has stopped PostgreSQL.
 * Any other stray error ends the run the same way, so PostgreSQL is never left running.
 */
process.on('uncaughtException', (error) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`${error.stack ?? String(error)}\n`);
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
});

/** Runs a bench's main: a failure is printed and fails the command, after its own cleanup ran. */
export function run(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}

export async function openCluster(): Promise<BenchCluster> {
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL?.trim() || undefined;
  if (serverUrl === undefined) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-bench-'));
    const dir = dataDir;
    // On Ctrl-C or SIGTERM the bench exits through 'exit' handlers: the embedded database's own
    // signals its PostgreSQL to stop, and this one removes the folder.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
    embedded = await startEmbeddedDatabase(dataDir, log);
    serverUrl = embedded.url;
  }
  const urlOf = (database: string) => {
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const created = new Set<string>();

  const {
    rows: [server],
  } = await admin.query<{ server_version_num: string; version: string }>(
    "select current_setting('server_version_num') as server_version_num, version()",
  );
  const versionNumber = Number(server!.server_version_num);
  const settings: Record<string, string> = {};
  for (const name of ['shared_buffers', 'work_mem', 'max_wal_size', 'synchronous_commit', 'wal_level', 'jit']) {
    settings[name] = (await admin.query<{ v: string }>(`select current_setting($1) as v`, [name])).rows[0]!.v;
  }

  const dropDatabase = async (name: string) => {
    await admin.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    created.delete(name);
  };

  const cluster: BenchCluster = {
    source: embedded ? 'embedded' : 'DATABASE_URL',
    version: server!.version.split(',')[0]!,
    settings,
    urlOf,
    admin,
    async createDatabase(name, template) {
      if (!name.startsWith(DATABASE_PREFIX))
        throw new Error(`bench databases are named ${DATABASE_PREFIX}…, not ${name}`);
      await dropDatabase(name);
      // FILE_COPY (PostgreSQL 15+) copies the files after a checkpoint: seconds for a gigabyte,
      // where the default WAL_LOG strategy would write the whole copy through the WAL.
      const strategy = template && versionNumber >= 150000 ? ' strategy file_copy' : '';
      await admin.query(
        `create database ${quoteIdent(name)}${template ? ` template ${quoteIdent(template)}${strategy}` : ''}`,
      );
      created.add(name);
      return urlOf(name);
    },
    dropDatabase,
    async close() {
      try {
        for (const name of [...created]) await dropDatabase(name);
        await admin.end();
      } finally {
        await embedded?.stop();
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
  return cluster;
}

/** Runs the project's migrations, the same way every entry point does. */
export async function migrateDatabase(url: string): Promise<void> {
  const orm = await initOrm({ clientUrl: url, entities: ENTITIES, log, poolSize: 2 });
  try {
    await migrate(orm);
  } finally {
    await orm.close();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A UUIDv7-shaped id as SQL, increasing with `ms`: the ids the server issues are time-ordered,
 * so a primary-key walk reads the heap roughly in order, as it does in production. Random
 * (v4) ids would make the same walk hop across the whole table.
 */
export function uuidv7Sql(ms: string, seed: string): string {
  return `(lpad(to_hex(${ms}), 12, '0') || '7' || substr(md5(${seed}), 1, 3) || '8' || substr(md5(${seed}), 4, 15))::uuid`;
}

/** The machine a run measured on, for the record the README keeps. */
export async function describeHost(): Promise<string> {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    model = /model name\s*:\s*(.*)/.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // Not Linux: os.cpus() named it already.
  }
  return `${availableParallelism()} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
}

/** Where a run's figures come from, printed as it starts: the host, its load, and PostgreSQL with its settings. */
export async function printSetting(cluster: BenchCluster): Promise<void> {
  console.log(`host: ${await describeHost()}; load average at start: ${loadAverage()}`);
  console.log(
    `PostgreSQL: ${cluster.version} (${cluster.source}); ${Object.entries(cluster.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}

export function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

export function envInteger(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`);
  return Number(raw);
}

export const seconds = (ms: number) => (ms / 1000).toFixed(2);
