/**
 * bench/hot: the operations every installed copy calls all day, and the reads an operator runs
 * over a big fleet, over HTTP with autocannon in a second process, each against the naive
 * baseline (bench/heartbeat/baseline.ts) where one applies, in alternating order:
 *
 * - heartbeat      POST /machines/{id}/heartbeat            licentric serve vs baseline, and vs
 *                  the floor (bench/hot/floor.ts: a bare node:http answering a constant)
 * - process-heartbeat  POST /processes/{id}/heartbeat, a process on each of heartbeat's machines,
 *                  vs heartbeat
 * - validate       POST /licenses/actions/validate, 5-machine licenses, with a fingerprint
 * - validate-big   the same on a license of BENCH_BIG_LICENSE machines (200 000), vs validate
 * - validate-signed  validate asking for a signed answer (Accept-Signature, ed25519), vs validate
 * - validate-scoped  validate scoped by product and two entitlements (a policy of a product
 *                  with three), vs validate, and vs the same licenses unscoped (validate-entitled,
 *                  run with it)
 * - activate       POST /machines, new fingerprints            licentric serve vs baseline
 * - list           GET /machines?limit=100 (pages/s)
 * - dead           GET /machines?heartbeatStatus=DEAD&limit=100, one at a time (ms)
 * - memory         RSS idle, peak and after a mixed load of the four hot requests
 *
 *   make bench
 *   BENCH_DURATION=5 BENCH_WARMUP=2 BENCH_ROUNDS=1 make bench     # a quicker run
 *   BENCH_ONLY=heartbeat,validate make bench                        # some of them
 *
 * BENCH_SERVE_ROOT runs `licentric serve` from another checkout (with its node_modules) on
 * the same data. BENCH_BEFORE_ROOT adds a second `licentric serve`, from another checkout, run side
 * by side with this one in the same rounds (heartbeat, validate, validate-signed), with the ratios:
 * a change's before and after in one run, on the same machine load (the earlier before figures
 * of bench/README.md were taken with BENCH_SERVE_ROOT, in a run of their own).
 */
import { randomBytes } from 'node:crypto';
import type { Result } from 'autocannon';
import pg from 'pg';
import { RENAMED_MIGRATIONS } from '../../src/db/orm.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import {
  type BenchCluster,
  DATABASE_PREFIX,
  envInteger,
  loadAverage,
  migrateDatabase,
  openCluster,
  printSetting,
  run,
} from '../support/cluster.ts';
import { deadFilter, type FleetBench, requestsOf, type Seeded, seedFleet } from '../support/fleet.ts';
import { ROOT, type Running, runLoad, serveCommand, startServer } from '../support/processes.ts';
import type { LoadPlan, PlannedRequest } from './load.ts';

const LICENSES = envInteger('BENCH_LICENSES', 100);
const MACHINES = envInteger('BENCH_MACHINES', 1_000_000);
const BIG_LICENSE = envInteger('BENCH_BIG_LICENSE', 200_000);
/** One machine in this many is dead (its own KEEP_DEAD license), spread over the whole table. */
const DEAD_EVERY = envInteger('BENCH_DEAD_EVERY', 1000);
const CONNECTIONS = envInteger('BENCH_CONNECTIONS', 20);
const WARMUP = envInteger('BENCH_WARMUP', 3);
const DURATION = envInteger('BENCH_DURATION', 10);
const ROUNDS = envInteger('BENCH_ROUNDS', 2);
const SERVE_ROOT = process.env.BENCH_SERVE_ROOT?.trim() || ROOT;
const BEFORE_ROOT = process.env.BENCH_BEFORE_ROOT?.trim() || undefined;
const ALL = [
  'heartbeat',
  'process-heartbeat',
  'validate',
  'validate-big',
  'validate-signed',
  'validate-scoped',
  'activate',
  'list',
  'dead',
  'memory',
] as const;
const ONLY = new Set((process.env.BENCH_ONLY?.trim() || ALL.join(',')).split(',').map((s) => s.trim()));
for (const name of ONLY)
  if (!(ALL as readonly string[]).includes(name))
    throw new Error(`BENCH_ONLY: "${name}" is not one of ${ALL.join(', ')}`);
const SEED_DB = `${DATABASE_PREFIX}hot_seed`;

type Target = 'licentric serve' | 'before' | 'baseline' | 'floor';

/**
 * The migrations this checkout renamed (`RENAMED_MIGRATIONS`), recorded under their old names
 * too: a checkout from before a rename would otherwise run them again on the database this one
 * migrated, and fail. This checkout's own start rewrites the old names into duplicates of the
 * new ones, which change nothing.
 */
async function recordOldMigrationNames(url: string): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(
      `insert into mikro_orm_migrations (name, executed_at)
       select r.old, now() from unnest($1::text[], $2::text[]) as r (old, new)
        where exists (select 1 from mikro_orm_migrations m where m.name = r.new)
          and not exists (select 1 from mikro_orm_migrations m where m.name = r.old)`,
      [Object.keys(RENAMED_MIGRATIONS), Object.values(RENAMED_MIGRATIONS)],
    );
  } finally {
    await db.end();
  }
}

async function start(target: Target, url: string, secret: string): Promise<Running> {
  if (target === 'floor') return startServer(target, ['bench/hot/floor.ts'], {});
  if (target === 'before') {
    await recordOldMigrationNames(url);
    return startServer(
      target,
      serveCommand(BEFORE_ROOT!),
      { DATABASE_URL: url, LICENTRIC_SECRET: secret, LICENTRIC_RATE_LIMITS: 'off' },
      BEFORE_ROOT,
    );
  }
  return target === 'baseline'
    ? startServer(target, ['bench/heartbeat/baseline.ts'], { DATABASE_URL: url, LICENTRIC_SECRET: secret })
    : startServer(
        target,
        serveCommand(SERVE_ROOT),
        { DATABASE_URL: url, LICENTRIC_SECRET: secret, LICENTRIC_RATE_LIMITS: 'off' },
        SERVE_ROOT,
      );
}

interface Outcome {
  bench: string;
  target: string;
  rps: number;
  p50: number;
  p99: number;
  cpuMs: number;
  requests: number;
}

function load(url: string, requests: PlannedRequest[], duration: number): Promise<Result> {
  return runLoad('bench/hot/load.ts', { url, connections: CONNECTIONS, duration, requests } satisfies LoadPlan);
}

function assertAllOk(label: string, ...results: Result[]): void {
  const failed = results.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
  if (failed > 0 || results.some((r) => r.requests.total === 0))
    throw new Error(`${label}: ${failed} requests failed: ${JSON.stringify(results.map((r) => r.statusCodeStats))}`);
}

/** BENCH_THREADS=1: where the server's CPU went, per thread, for each run. */
const THREADS = process.env.BENCH_THREADS === '1';

function printThreads(label: string, before: Map<string, number>, after: Map<string, number>, requests: number): void {
  const parts = [...after]
    .map(([name, seconds]) => [name, ((seconds - (before.get(name) ?? 0)) * 1e6) / requests] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => `${name} ${us.toFixed(1)}`);
  console.log(`  ${label}: server CPU µs/request by thread: ${parts.join(', ')}`);
}

/** A signed run that measured unsigned answers would say nothing: one request is checked first. */
async function assertSigned(url: string, request: PlannedRequest): Promise<void> {
  const response = await fetch(`${url}${request.path}`, {
    method: request.method,
    headers: { ...request.headers, 'content-type': 'application/json' },
    body: request.body,
  });
  await response.arrayBuffer();
  if (response.status !== 200 || !response.headers.get('signature')?.startsWith('sig1=:'))
    throw new Error(`validate-signed: the answer is not signed (${response.status})`);
}

/** A scoped run must measure the answer it means to: one request is checked to be VALID first. */
async function assertScopedValid(url: string, request: PlannedRequest): Promise<void> {
  const response = await fetch(`${url}${request.path}`, {
    method: request.method,
    headers: { ...request.headers, 'content-type': 'application/json' },
    body: request.body,
  });
  const body = (await response.json()) as { data?: { code?: string; entitlements?: string[] } };
  if (response.status !== 200 || body.data?.code !== 'VALID' || body.data.entitlements?.length !== 3)
    throw new Error(`validate-scoped: not a VALID answer with the entitlements: ${JSON.stringify(body)}`);
}

async function throughput(
  cluster: BenchCluster,
  seedUrl: string,
  secret: string,
  seeded: Seeded,
  bench: FleetBench,
  target: Target,
  n: number,
): Promise<Outcome> {
  // Writing benches get their own copy of the seed, so every run starts from the same pages.
  const writes = bench === 'heartbeat' || bench === 'process-heartbeat' || bench === 'activate';
  const name = `${DATABASE_PREFIX}hot_${n}`;
  const url = writes ? await cluster.createDatabase(name, SEED_DB) : seedUrl;
  try {
    const server = await start(target, url, secret);
    try {
      const requests = requestsOf(bench, seeded);
      if (bench === 'validate-signed') await assertSigned(server.url, requests[0]!);
      if (bench === 'validate-scoped') await assertScopedValid(server.url, requests[0]!);
      const warmup = await load(server.url, requests, WARMUP);
      const cpu = server.cpuSeconds();
      const threads = server.cpuByThread();
      const result = await load(server.url, requests, DURATION);
      const cpuMs = ((server.cpuSeconds() - cpu) * 1000) / result.requests.total;
      if (THREADS) printThreads(`${bench}, ${target}`, threads, server.cpuByThread(), result.requests.total);
      assertAllOk(`${bench}, ${target}`, warmup, result);
      return {
        bench,
        target,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuMs,
        requests: result.requests.total,
      };
    } finally {
      await server.stop();
    }
  } finally {
    if (writes) await cluster.dropDatabase(name);
  }
}

/** The DEAD filter on its own server, over the seeded database. */
async function deadFilterRun(seedUrl: string, secret: string, seeded: Seeded) {
  const server = await start('licentric serve', seedUrl, secret);
  try {
    return await deadFilter(server.url, seeded.adminToken);
  } finally {
    await server.stop();
  }
}

/** RSS idle after start, the peak under a mixed load of the four hot requests, and after it. */
async function memory(
  cluster: BenchCluster,
  secret: string,
  seeded: Seeded,
): Promise<{ idle: number; peak: number; after: number; rps: number }> {
  const name = `${DATABASE_PREFIX}hot_memory`;
  const url = await cluster.createDatabase(name, SEED_DB);
  try {
    const server = await start('licentric serve', url, secret);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const idle = server.memory().rss;
      const lists = (['heartbeat', 'validate', 'activate', 'list'] as const).map((b) => requestsOf(b, seeded));
      // Interleaved, so every moment of the run carries all four.
      const mixed: PlannedRequest[] = [];
      for (let i = 0; i < Math.max(...lists.map((l) => l.length)); i++)
        for (const list of lists) mixed.push(list[i % list.length]!);
      const result = await load(server.url, mixed, Math.max(DURATION * 3, 30));
      assertAllOk('memory, mixed load', result);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const { rss: after, peak } = server.memory();
      return { idle, peak, after, rps: result.requests.average };
    } finally {
      await server.stop();
    }
  } finally {
    await cluster.dropDatabase(name);
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function describe(o: Outcome): string {
  return `${o.bench}, ${o.target}: ${o.rps.toFixed(0)} req/s, p50 ${o.p50} ms, p99 ${o.p99} ms, server CPU ${o.cpuMs.toFixed(2)} ms/request (${o.requests} requests)`;
}

async function main(): Promise<void> {
  const cluster = await openCluster();
  try {
    console.log(
      `bench/hot  ${new Date().toISOString()}  serve from ${SERVE_ROOT === ROOT ? 'this checkout' : SERVE_ROOT}`,
    );
    await printSetting(cluster);
    // The server's build, before the seeding rather than in the middle of the runs.
    const command = serveCommand(SERVE_ROOT);
    console.log(`serve: node ${command.join(' ')}`);
    if (BEFORE_ROOT) console.log(`before: node ${serveCommand(BEFORE_ROOT).join(' ')} in ${BEFORE_ROOT}`);
    const seedUrl = await cluster.createDatabase(SEED_DB);
    await migrateDatabase(seedUrl);
    const secret = randomBytes(48).toString('base64url');
    const db = new pg.Client({ connectionString: seedUrl });
    await db.connect();
    let seeded: Seeded;
    try {
      seeded = await seedFleet(db, new KeyHasher(secret), {
        machines: MACHINES,
        licenses: LICENSES,
        bigLicense: BIG_LICENSE,
        deadEvery: DEAD_EVERY,
      });
    } finally {
      await db.end();
    }
    console.log(
      `${MACHINES} machines over ${LICENSES} licenses (1 in ${DEAD_EVERY} dead, of a KEEP_DEAD license), a license of ${BIG_LICENSE}, ` +
        `100 licenses of 5; ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${DURATION} s measured, ${ROUNDS} round(s), ABBA`,
    );

    const pairs: [FleetBench, Target][] = [];
    for (const bench of ['heartbeat', 'validate', 'activate'] as const) {
      if (ONLY.has(bench)) pairs.push([bench, 'licentric serve'], [bench, 'baseline']);
    }
    if (ONLY.has('heartbeat')) pairs.push(['heartbeat', 'floor']);
    if (ONLY.has('process-heartbeat')) {
      pairs.push(['process-heartbeat', 'licentric serve']);
      if (!ONLY.has('heartbeat')) pairs.push(['heartbeat', 'licentric serve']);
    }
    if (ONLY.has('validate-big')) pairs.push(['validate-big', 'licentric serve']);
    if (ONLY.has('validate-signed')) pairs.push(['validate-signed', 'licentric serve']);
    if (ONLY.has('validate-scoped'))
      pairs.push(['validate-scoped', 'licentric serve'], ['validate-entitled', 'licentric serve']);
    if (
      (ONLY.has('validate-big') || ONLY.has('validate-signed') || ONLY.has('validate-scoped')) &&
      !ONLY.has('validate')
    )
      pairs.push(['validate', 'licentric serve']);
    if (ONLY.has('list')) pairs.push(['list', 'licentric serve']);
    if (BEFORE_ROOT)
      for (const bench of ['heartbeat', 'validate', 'validate-signed'] as const)
        if (ONLY.has(bench)) pairs.push([bench, 'before']);

    const outcomes: Outcome[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Every other round in reverse (ABBA), so the drift of a shared machine weighs on all alike.
      for (const [bench, target] of round % 2 === 1 ? pairs : [...pairs].reverse()) {
        const outcome = await throughput(cluster, seedUrl, secret, seeded, bench, target, outcomes.length + 1);
        outcomes.push(outcome);
        console.log(`round ${round}, ${describe(outcome)}; load average ${loadAverage()}`);
      }
    }

    console.log('');
    console.log(`means of ${ROUNDS} round(s):`);
    const mean = (bench: string, target: string) => {
      const runs = outcomes.filter((o) => o.bench === bench && o.target === target);
      if (runs.length === 0) return undefined;
      const avg = (pick: (o: Outcome) => number) => runs.reduce((sum, o) => sum + pick(o), 0) / runs.length;
      return { rps: avg((o) => o.rps), p50: avg((o) => o.p50), p99: avg((o) => o.p99), cpuMs: avg((o) => o.cpuMs) };
    };
    for (const [bench, target] of pairs) {
      const m = mean(bench, target)!;
      console.log(
        `${bench}, ${target}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, server CPU ${m.cpuMs.toFixed(2)} ms/request`,
      );
    }
    console.log('');
    console.log('ratios:');
    for (const bench of ['heartbeat', 'validate', 'activate'] as const) {
      const real = mean(bench, 'licentric serve');
      const base = mean(bench, 'baseline');
      if (real && base) {
        console.log(
          `${bench}: licentric serve / baseline throughput ${(real.rps / base.rps).toFixed(2)}×, ` +
            `p99 ${real.p99.toFixed(1)} vs ${base.p99.toFixed(1)} ms, server CPU ${real.cpuMs.toFixed(2)} vs ${base.cpuMs.toFixed(2)} ms/request`,
        );
      }
    }
    for (const bench of ['heartbeat', 'validate', 'validate-signed'] as const) {
      const after = mean(bench, 'licentric serve');
      const before = mean(bench, 'before');
      if (after && before)
        console.log(
          `${bench}: this checkout / before throughput ${(after.rps / before.rps).toFixed(2)}×, ` +
            `p99 ${after.p99.toFixed(1)} vs ${before.p99.toFixed(1)} ms, server CPU ${after.cpuMs.toFixed(3)} vs ${before.cpuMs.toFixed(3)} ms/request`,
        );
    }
    const floor = mean('heartbeat', 'floor');
    const beats = mean('heartbeat', 'licentric serve');
    if (floor && beats)
      console.log(
        `heartbeat: licentric serve / floor (bare node:http, a constant) throughput ${(beats.rps / floor.rps).toFixed(2)}×, ` +
          `server CPU ${beats.cpuMs.toFixed(3)} vs ${floor.cpuMs.toFixed(3)} ms/request`,
      );
    const big = mean('validate-big', 'licentric serve');
    const small = mean('validate', 'licentric serve');
    if (big && small)
      console.log(
        `validate on ${BIG_LICENSE} machines / on 5 machines: ${(big.rps / small.rps).toFixed(2)}× the throughput`,
      );
    const processBeats = mean('process-heartbeat', 'licentric serve');
    const machineBeats = mean('heartbeat', 'licentric serve');
    if (processBeats && machineBeats)
      console.log(
        `process heartbeat / machine heartbeat: ${(processBeats.rps / machineBeats.rps).toFixed(2)}× the throughput, ` +
          `p99 ${processBeats.p99.toFixed(1)} vs ${machineBeats.p99.toFixed(1)} ms, server CPU ${processBeats.cpuMs.toFixed(3)} vs ${machineBeats.cpuMs.toFixed(3)} ms/request`,
      );
    const signed = mean('validate-signed', 'licentric serve');
    if (signed && small)
      console.log(
        `validate signed / unsigned: ${(signed.rps / small.rps).toFixed(2)}× the throughput, ` +
          `p99 ${signed.p99.toFixed(1)} vs ${small.p99.toFixed(1)} ms, server CPU ${signed.cpuMs.toFixed(2)} vs ${small.cpuMs.toFixed(2)} ms/request`,
      );
    const scoped = mean('validate-scoped', 'licentric serve');
    if (scoped && small)
      console.log(
        `validate scoped (product, 2 entitlements) / plain: ${(scoped.rps / small.rps).toFixed(2)}× the throughput, ` +
          `p99 ${scoped.p99.toFixed(1)} vs ${small.p99.toFixed(1)} ms, server CPU ${scoped.cpuMs.toFixed(2)} vs ${small.cpuMs.toFixed(2)} ms/request`,
      );
    const entitled = mean('validate-entitled', 'licentric serve');
    if (scoped && entitled)
      console.log(
        `validate scoped / the same licenses unscoped: ${(scoped.rps / entitled.rps).toFixed(2)}× the throughput, ` +
          `p99 ${scoped.p99.toFixed(1)} vs ${entitled.p99.toFixed(1)} ms, server CPU ${scoped.cpuMs.toFixed(2)} vs ${entitled.cpuMs.toFixed(2)} ms/request`,
      );
    const list = mean('list', 'licentric serve');
    if (list) console.log(`list: ${list.rps.toFixed(0)} pages/s of 100, server CPU ${list.cpuMs.toFixed(2)} ms/page`);

    if (ONLY.has('dead')) {
      const dead = await deadFilterRun(seedUrl, secret, seeded);
      const live = MACHINES + BIG_LICENSE + 500;
      console.log(
        `dead filter over ${live} machines: first page (${dead.count} machines) median ${dead.median.toFixed(1)} ms, p90 ${dead.p90.toFixed(1)} ms (20 requests, one at a time)`,
      );
    }
    if (ONLY.has('memory')) {
      const m = await memory(cluster, secret, seeded);
      console.log(
        `memory (RSS): idle ${mib(m.idle)}, peak ${mib(m.peak)}, after the mixed load ${mib(m.after)} (mixed load ran at ${m.rps.toFixed(0)} req/s)`,
      );
    }
    console.log(`load average at end: ${loadAverage()}`);
  } finally {
    await cluster.close();
  }
}

run(main);
