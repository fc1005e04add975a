/**
 * bench/heartbeat: heartbeats over HTTP, autocannon in a second process, against the real
 * server (`licentric serve`, production logging on) and against bench/heartbeat/baseline.ts
 * (node:http + pg doing the same key check and UPDATE), in one run on one database. Then the
 * real server again with a BRIN and with a btree index on machines.last_heartbeat_at, to see
 * what each does to HOT updates and to throughput.
 *
 *   make bench-heartbeat                                                 # two rounds, ABBA
 *   BENCH_DURATION=5 BENCH_WARMUP=2 BENCH_ROUNDS=1 make bench-heartbeat  # a quicker run
 */
import { randomBytes } from 'node:crypto';
import type { Result } from 'autocannon';
import pg from 'pg';
import { uuidv7 } from '../../src/core/ids.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import { generateLicenseKey } from '../../src/keys/license-key.ts';
import type { LoadPlan } from '../hot/load.ts';
import {
  type BenchCluster,
  DATABASE_PREFIX,
  envInteger,
  loadAverage,
  migrateDatabase,
  openCluster,
  printSetting,
  run,
  uuidv7Sql,
} from '../support/cluster.ts';
import { ROOT, type Running, runLoad, serveCommand, startServer } from '../support/processes.ts';

/** The machines to beat, each with its license's key. */
type Targets = { id: string; key: string }[];

const LICENSES = envInteger('BENCH_LICENSES', 100);
const BEATING_PER_LICENSE = envInteger('BENCH_MACHINES_PER_LICENSE', 10);
/** Every machine in the table; only LICENSES × BEATING_PER_LICENSE of them, spread evenly, are beaten. */
const MACHINES = envInteger('BENCH_MACHINES', 100_000);
const CONNECTIONS = envInteger('BENCH_CONNECTIONS', 20);
const WARMUP = envInteger('BENCH_WARMUP', 5);
const DURATION = envInteger('BENCH_DURATION', 15);
const ROUNDS = envInteger('BENCH_ROUNDS', 2);
const SEED_DB = `${DATABASE_PREFIX}heartbeat_seed`;
const POLICY_ID = uuidv7();

type Index = 'none' | 'brin' | 'btree';
type Target = 'licentric serve' | 'licentric serve, rate limits counting' | 'baseline';
const TARGETS: Record<string, Target> = {
  serve: 'licentric serve',
  limited: 'licentric serve, rate limits counting',
  baseline: 'baseline',
};

/**
 * The rate limiter's cost: `serve` runs with LICENTRIC_RATE_LIMITS=off (the setting for a
 * benchmark), `limited` with every budget on but too large for this load to reach, so each
 * request is counted (per address and per license key, in memory) and none is refused.
 */
const UNREACHABLE = '1000000000/60';
const RATE_LIMIT_ENV: Record<Target, Record<string, string>> = {
  'licentric serve': { LICENTRIC_RATE_LIMITS: 'off' },
  'licentric serve, rate limits counting': {
    LICENTRIC_RATE_LIMIT_IP: UNREACHABLE,
    LICENTRIC_RATE_LIMIT_LICENSE: UNREACHABLE,
    LICENTRIC_RATE_LIMIT_API_KEY: UNREACHABLE,
    LICENTRIC_RATE_LIMIT_AUTH_FAILURES: UNREACHABLE,
  },
  baseline: {},
};

/**
 * What runs, in order: `target:index` pairs, target `serve`, `limited` or `baseline`, index `none`, `brin`
 * or `btree`. Repeating pairs in another order (BENCH_SCENARIOS=serve:btree,serve:none,…) tells
 * a real difference from the drift of a shared machine.
 */
const SCENARIOS = (
  process.env.BENCH_SCENARIOS?.trim() || 'serve:none,limited:none,baseline:none,serve:brin,serve:btree'
)
  .split(',')
  .map((pair) => {
    const [target, index] = pair.trim().split(':');
    if (!target || !(target in TARGETS) || (index !== 'none' && index !== 'brin' && index !== 'btree')) {
      throw new Error(`BENCH_SCENARIOS: "${pair}" is not serve|limited|baseline:none|brin|btree`);
    }
    return [TARGETS[target]!, index] as [Target, Index];
  });

const INDEX_SQL: Record<Index, string | null> = {
  none: null,
  brin: 'create index machines_last_heartbeat_at_bench on machines using brin (last_heartbeat_at)',
  btree: 'create index machines_last_heartbeat_at_bench on machines (last_heartbeat_at)',
};

function startTarget(target: Target, databaseUrl: string, secret: string): Promise<Running> {
  const script = target === 'baseline' ? ['bench/heartbeat/baseline.ts'] : serveCommand(ROOT);
  return startServer(target, script, {
    DATABASE_URL: databaseUrl,
    LICENTRIC_SECRET: secret,
    ...RATE_LIMIT_ENV[target],
  });
}

function load(url: string, targets: Targets, duration: number): Promise<Result> {
  const requests = targets.map((t) => ({
    method: 'POST' as const,
    path: `/api/v1/machines/${t.id}/heartbeat`,
    headers: { authorization: `License ${t.key}` },
  }));
  return runLoad('bench/hot/load.ts', { url, connections: CONNECTIONS, duration, requests } satisfies LoadPlan);
}

async function seed(db: pg.Client, hasher: KeyHasher): Promise<Targets> {
  const now = new Date();
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                           heartbeat_cull_strategy, heartbeat_resurrection_window)
     values ($1, 'bench', 'BENCH', $2, $2, true, 600, 'DEACTIVATE_DEAD', 0)`,
    [POLICY_ID, now],
  );
  const keys = Array.from({ length: LICENSES }, () => generateLicenseKey('BENCH'));
  const ids = keys.map(() => uuidv7());
  await db.query(
    `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at)
     select id, $3, key_hash, 'BENCH-…', $4, $4 from unnest($1::uuid[], $2::bytea[]) as k(id, key_hash)`,
    [ids, keys.map((key) => hasher.hash('license-key', key)), POLICY_ID, now],
  );
  // Machine i belongs to license i mod L: each license's machines are spread over the table.
  await db.query(
    `insert into machines (id, license_id, fingerprint, last_heartbeat_at, created_at, updated_at)
     select ${uuidv7Sql(`$3::bigint - $2::int + i`, "'machine' || i")}, ($1::uuid[])[1 + i % array_length($1::uuid[], 1)],
            'fingerprint-' || i, $4, $4, $4
       from generate_series(1, $2::int) i`,
    [ids, MACHINES, now.getTime(), now],
  );
  await db.query('vacuum (analyze) policies, licenses, machines');
  // The beaten machines: every k-th of each license's, so they lie all over the heap.
  const stride = Math.max(1, Math.floor(MACHINES / LICENSES / BEATING_PER_LICENSE));
  const { rows } = await db.query<{ id: string; license_id: string }>(
    `select id, license_id from (
       select id, license_id, row_number() over (partition by license_id order by id) as n from machines
     ) m where n % $1 = 0 and n / $1 <= $2 order by id`,
    [stride, BEATING_PER_LICENSE],
  );
  const keyOf = new Map(ids.map((id, i) => [id, keys[i]!]));
  return rows.map((row) => ({ id: row.id, key: keyOf.get(row.license_id)! }));
}

interface Counters {
  updates: number;
  hot: number;
  commits: number;
  /** WAL position: the bytes between two are what the work in between wrote to the WAL. */
  lsn: string;
  indexBytes: number;
}

/**
 * PostgreSQL's cumulative counters for machines and the database. Sessions report theirs at most
 * once a second while busy, and within 10 s of going idle or at once when they end; so they are
 * read either once every other session has ended, or after `idle` ms without load.
 */
async function counters(db: pg.Client, idle = 0): Promise<Counters> {
  if (idle > 0) await new Promise((resolve) => setTimeout(resolve, idle));
  for (let i = 0; i < 100 && idle === 0; i++) {
    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    if (rows[0]!.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const {
    rows: [row],
  } = await db.query<{ updates: string; hot: string; commits: string; lsn: string; index_bytes: string }>(
    `select n_tup_upd as updates, n_tup_hot_upd as hot,
            (select xact_commit from pg_stat_database where datname = current_database()) as commits,
            pg_current_wal_lsn() as lsn, pg_indexes_size('machines') as index_bytes
       from pg_stat_user_tables where relname = 'machines'`,
  );
  return {
    updates: Number(row!.updates),
    hot: Number(row!.hot),
    commits: Number(row!.commits),
    lsn: row!.lsn,
    indexBytes: Number(row!.index_bytes),
  };
}

interface Outcome {
  label: string;
  result: Result;
  /** Of the measured window's updates of machines, the share that were HOT. */
  hotShare: number;
  updates: number;
  /** Over warm-up and measurement together, from a table no heartbeat had touched yet. */
  hotShareFromStart: number;
  transactionsPerRequest: number;
  serverCpuMsPerRequest: number;
  walBytesPerRequest: number;
  /** How much the indexes of machines grew during the measured window. */
  indexGrowthBytes: number;
}

async function scenario(
  cluster: BenchCluster,
  n: number,
  secret: string,
  targets: Targets,
  target: Target,
  index: Index,
): Promise<Outcome> {
  const label = `${target}, ${index === 'none' ? 'no index (as shipped)' : `${index} on last_heartbeat_at`}`;
  // Every scenario on its own copy of the seeded database: same rows, same pages, same free space.
  const name = `${DATABASE_PREFIX}heartbeat_${n}`;
  const url = await cluster.createDatabase(name, SEED_DB);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const create = INDEX_SQL[index];
    if (create) await db.query(create);
    const start = await counters(db);
    const server = await startTarget(target, url, secret);
    let warmup: Result;
    let result: Result;
    let before: Counters;
    let cpu: number;
    try {
      warmup = await load(server.url, targets, WARMUP);
      before = await counters(db, 11_000);
      cpu = server.cpuSeconds();
      result = await load(server.url, targets, DURATION);
      cpu = server.cpuSeconds() - cpu;
    } finally {
      await server.stop();
    }
    const after = await counters(db);
    const failed = warmup.non2xx + warmup.errors + result.non2xx + result.errors;
    if (failed > 0) {
      throw new Error(
        `${label}: ${failed} requests failed: ${JSON.stringify({ warmup: warmup.statusCodeStats, measured: result.statusCodeStats })}`,
      );
    }
    const updates = after.updates - before.updates;
    const share = (hot: number, all: number) => (all === 0 ? 0 : hot / all);
    const {
      rows: [wal],
    } = await db.query<{ bytes: string }>('select pg_wal_lsn_diff($1, $2) as bytes', [after.lsn, before.lsn]);
    return {
      label,
      result,
      updates,
      hotShare: share(after.hot - before.hot, updates),
      hotShareFromStart: share(after.hot - start.hot, after.updates - start.updates),
      transactionsPerRequest: (after.commits - before.commits) / result.requests.total,
      serverCpuMsPerRequest: (cpu * 1000) / result.requests.total,
      walBytesPerRequest: Number(wal!.bytes) / result.requests.total,
      indexGrowthBytes: after.indexBytes - before.indexBytes,
    };
  } finally {
    await db.end();
    await cluster.dropDatabase(name);
  }
}

function line(o: Outcome): string {
  const r = o.result;
  return (
    `${o.label}: ${r.requests.average.toFixed(0)} req/s, latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms ` +
    `(${r.requests.total} requests in ${r.duration.toFixed(1)} s); server CPU ${o.serverCpuMsPerRequest.toFixed(2)} ms/request; ` +
    `${o.transactionsPerRequest.toFixed(2)} transactions/request; WAL ${o.walBytesPerRequest.toFixed(0)} bytes/request; ` +
    `indexes of machines +${(o.indexGrowthBytes / 2 ** 20).toFixed(1)} MiB; HOT updates ${(o.hotShare * 100).toFixed(1)} % of ${o.updates} ` +
    `(${(o.hotShareFromStart * 100).toFixed(1)} % counting the warm-up's first touch of each row); load average ${loadAverage()}`
  );
}

async function main(): Promise<void> {
  const cluster = await openCluster();
  try {
    console.log(`bench/heartbeat  ${new Date().toISOString()}`);
    await printSetting(cluster);
    // The server's build, before the seeding rather than in the middle of the runs.
    const command = serveCommand(ROOT);
    console.log(`serve: node ${command.join(' ')}`);
    const url = await cluster.createDatabase(SEED_DB);
    await migrateDatabase(url);
    const secret = randomBytes(48).toString('base64url');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    let targets: Targets;
    try {
      targets = await seed(db, new KeyHasher(secret));
    } finally {
      await db.end();
    }
    console.log(
      `${MACHINES} machines over ${LICENSES} licenses; autocannon cycles through ${targets.length} of them ` +
        `(${BEATING_PER_LICENSE} per license) with ${CONNECTIONS} connections: ${WARMUP} s warm-up, then ${DURATION} s measured`,
    );
    const outcomes: Outcome[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Every other round in reverse (ABBA), so the drift of a shared machine weighs on all alike.
      for (const [target, index] of round % 2 === 1 ? SCENARIOS : [...SCENARIOS].reverse()) {
        const outcome = await scenario(cluster, outcomes.length + 1, secret, targets, target, index);
        outcomes.push(outcome);
        console.log(`round ${round}, ${line(outcome)}`);
      }
    }

    console.log('');
    console.log(`means of ${ROUNDS} round(s):`);
    const means = new Map<
      string,
      { rps: number; p50: number; p99: number; hot: number; cpu: number; wal: number; growth: number }
    >();
    for (const label of new Set(outcomes.map((o) => o.label))) {
      const runs = outcomes.filter((o) => o.label === label);
      const mean = (pick: (o: Outcome) => number) => runs.reduce((sum, o) => sum + pick(o), 0) / runs.length;
      const m = {
        rps: mean((o) => o.result.requests.average),
        p50: mean((o) => o.result.latency.p50),
        p99: mean((o) => o.result.latency.p99),
        hot: mean((o) => o.hotShare),
        cpu: mean((o) => o.serverCpuMsPerRequest),
        wal: mean((o) => o.walBytesPerRequest),
        growth: mean((o) => o.indexGrowthBytes),
      };
      means.set(label, m);
      console.log(
        `${label}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ` +
          `server CPU ${m.cpu.toFixed(2)} ms/request, HOT ${(m.hot * 100).toFixed(1)} %, WAL ${m.wal.toFixed(0)} bytes/request, ` +
          `indexes +${(m.growth / 2 ** 20).toFixed(1)} MiB`,
      );
    }
    const real = means.get('licentric serve, no index (as shipped)');
    const baseline = means.get('baseline, no index (as shipped)');
    if (real && baseline) {
      console.log(
        `licentric serve / baseline: throughput ${(real.rps / baseline.rps).toFixed(2)}, ` +
          `p50 latency ${(real.p50 / baseline.p50).toFixed(2)}, p99 latency ${(real.p99 / baseline.p99).toFixed(2)}`,
      );
    }
    const limited = means.get('licentric serve, rate limits counting, no index (as shipped)');
    if (real && limited) {
      console.log(
        `rate limits counting / off: throughput ${(limited.rps / real.rps).toFixed(2)}, server CPU ` +
          `${limited.cpu - real.cpu >= 0 ? '+' : ''}${(limited.cpu - real.cpu).toFixed(3)} ms/request, ` +
          `p50 latency ${(limited.p50 / real.p50).toFixed(2)}, p99 latency ${(limited.p99 / real.p99).toFixed(2)}`,
      );
    }
    console.log(`load average at end: ${loadAverage()}`);
  } finally {
    await cluster.close();
  }
}

run(main);
