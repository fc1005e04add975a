/**
 * bench/scale: issue 22's scale run. The fleet of bench/hot seeded twice, at 100 000 machines and
 * at 10 000 000, one machine in 100 dead in each; then on each, `licentric serve` in a process of
 * its own driven by autocannon in another:
 *
 * - heartbeat  POST /machines/{id}/heartbeat, 10 machines of each fleet license
 * - validate   POST /licenses/actions/validate with a fingerprint, 5-machine licenses
 * - activate   POST /machines, a new fingerprint each time
 * - list       GET /machines?limit=100
 * - dead       GET /machines?heartbeatStatus=DEAD&limit=100, one at a time
 * - memory     RSS idle, and after a mixed load of the four hot requests
 *
 * and each figure of the big fleet against the small one's (target: ≥ 0.9×). Then the worker's
 * pass over each fleet, on a copy, alone; and over the big fleet again while heartbeats run,
 * against heartbeats on the same server just before it (target: p99 ≤ 2×).
 *
 *   make bench-scale                                        # 100 000 vs 10 000 000 (~14 min)
 *   BENCH_SCALE_MACHINES=1000000 make bench-scale           # 100 000 vs 1 000 000, a quick try
 *   BENCH_ONLY=heartbeat,cull make bench-scale               # some of them (also memory, dead, …)
 */
import { randomBytes } from 'node:crypto';
import type { Result } from 'autocannon';
import pg from 'pg';
import { systemClock } from '../../src/core/clock.ts';
import { initOrm } from '../../src/db/orm.ts';
import { DEFAULT_RETENTION } from '../../src/db/retention.ts';
import { ENTITIES } from '../../src/entities.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import { MACHINE_EVENTS } from '../../src/machines/events.ts';
import { type WorkerPassResult, workerPass } from '../../src/worker.ts';
import type { LoadPlan, PlannedRequest } from '../hot/load.ts';
import {
  type BenchCluster,
  DATABASE_PREFIX,
  envInteger,
  loadAverage,
  log,
  migrateDatabase,
  openCluster,
  printSetting,
  run,
} from '../support/cluster.ts';
import { deadFilter, requestsOf, type Seeded, seedFleet } from '../support/fleet.ts';
import { cpuSecondsOf, ROOT, type Running, runLoad, serveCommand, startServer } from '../support/processes.ts';

const SMALL = envInteger('BENCH_SCALE_SMALL', 100_000);
const BIG = envInteger('BENCH_SCALE_MACHINES', 10_000_000);
/**
 * 101, not bench/hot's 100: with one machine in 100 dead, machine i going to license i mod 100
 * would leave the first license with no machine at all (all of its would-be ones are the dead).
 */
const LICENSES = envInteger('BENCH_LICENSES', 101);
const DEAD_EVERY = envInteger('BENCH_DEAD_EVERY', 100);
const CONNECTIONS = envInteger('BENCH_CONNECTIONS', 20);
const WARMUP = envInteger('BENCH_WARMUP', 3);
const DURATION = envInteger('BENCH_DURATION', 10);
const ROUNDS = envInteger('BENCH_ROUNDS', 2);
/**
 * A day: live machines beat once, at seeding, and must stay alive for the whole run (the big
 * seed alone takes minutes). The dead are under the graveyard policy's 600 s, two hours late.
 */
const HEARTBEAT_DURATION = 86_400;
const TARGET_RATIO = 0.9;
const ALL = ['heartbeat', 'validate', 'activate', 'list', 'memory', 'dead', 'cull'] as const;
const ONLY = new Set((process.env.BENCH_ONLY?.trim() || ALL.join(',')).split(',').map((s) => s.trim()));
for (const name of ONLY)
  if (!(ALL as readonly string[]).includes(name))
    throw new Error(`BENCH_ONLY: "${name}" is not one of ${ALL.join(', ')}`);
const TARGET_CULL_P99 = 2;

interface Fleet {
  label: string;
  machines: number;
  database: string;
  url: string;
  seeded: Seeded;
}

interface Outcome {
  bench: string;
  fleet: string;
  rps: number;
  p50: number;
  p99: number;
  /** The server process's CPU per request. */
  cpuMs: number;
  /** PostgreSQL's, summed over the backends serving the server's connections. */
  dbCpuMs: number;
  requests: number;
  rssIdle: number;
  rssAfter: number;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const grouped = (n: number) => n.toLocaleString('en-US').replaceAll(',', ' ');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function start(url: string, secret: string): Promise<Running> {
  return startServer('licentric serve', serveCommand(ROOT), {
    DATABASE_URL: url,
    LICENTRIC_SECRET: secret,
    LICENTRIC_RATE_LIMITS: 'off',
  });
}

function load(url: string, requests: PlannedRequest[], duration: number, stop?: AbortSignal): Promise<Result> {
  return runLoad('bench/hot/load.ts', { url, connections: CONNECTIONS, duration, requests } satisfies LoadPlan, stop);
}

function assertAllOk(label: string, server: Running, ...results: Result[]): void {
  const failed = results.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
  if (failed > 0 || results.some((r) => r.requests.total === 0)) {
    const { exited, stderr } = server.exited();
    throw new Error(
      `${label}: ${failed} requests failed: ${JSON.stringify(results.map((r) => ({ codes: r.statusCodeStats, errors: r.errors, timeouts: r.timeouts })))}; ` +
        `the server ${exited ? 'exited' : 'is running'}; its stderr:\n${stderr.slice(-4000)}`,
    );
  }
}

/**
 * CPU seconds of the PostgreSQL backends connected to `database`, from /proc: the server's pool.
 * A backend that connects during the measured run counts whole; the pool is full after warm-up.
 */
async function databaseCpu(cluster: BenchCluster, database: string): Promise<Map<number, number>> {
  const { rows } = await cluster.admin.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [database],
  );
  return new Map(rows.map((r) => [r.pid, cpuSecondsOf(r.pid)]));
}

function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) if (!Number.isNaN(seconds)) total += seconds - (before.get(pid) ?? 0);
  return total;
}

async function seed(cluster: BenchCluster, label: string, machines: number, secret: string): Promise<Fleet> {
  const database = `${DATABASE_PREFIX}scale_${label}`;
  const url = await cluster.createDatabase(database);
  await migrateDatabase(url);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const started = performance.now();
    const seeded = await seedFleet(db, new KeyHasher(secret), {
      machines,
      licenses: LICENSES,
      bigLicense: 0,
      deadEvery: DEAD_EVERY,
      heartbeatDuration: HEARTBEAT_DURATION,
    });
    const seconds = (performance.now() - started) / 1000;
    const {
      rows: [size],
    } = await db.query<{ database: string; heap: string; indexes: string; each: string }>(
      `select pg_size_pretty(pg_database_size(current_database())) as database,
              pg_size_pretty(pg_table_size('machines')) as heap,
              pg_size_pretty(pg_indexes_size('machines')) as indexes,
              (select string_agg(indexrelid::regclass::text || ' ' || pg_size_pretty(pg_relation_size(indexrelid)), ', ' order by indexrelid::regclass::text)
                 from pg_index where indrelid = 'machines'::regclass) as each`,
    );
    console.log(
      `${label}: seeded ${grouped(seeded.machines)} machines (${grouped(seeded.dead)} dead) in ${seconds.toFixed(1)} s; ` +
        `database ${size!.database}, machines ${size!.heap} heap + ${size!.indexes} indexes (${size!.each}); load average ${loadAverage()}`,
    );
    return { label, machines: seeded.machines, database, url, seeded };
  } finally {
    await db.end();
  }
}

type Bench = 'heartbeat' | 'validate' | 'activate' | 'list';

/** A run of one bench on its own server; writing benches on their own copy of the fleet. */
async function throughput(
  cluster: BenchCluster,
  fleet: Fleet,
  secret: string,
  bench: Bench | 'memory',
  n: number,
): Promise<Outcome> {
  const writes = bench !== 'validate' && bench !== 'list';
  const copy = `${DATABASE_PREFIX}scale_run_${n}`;
  const url = writes ? await cluster.createDatabase(copy, fleet.database) : fleet.url;
  const database = writes ? copy : fleet.database;
  try {
    const server = await start(url, secret);
    try {
      await sleep(2000);
      const rssIdle = server.memory().rss;
      let requests: PlannedRequest[];
      if (bench === 'memory') {
        // Interleaved, so every moment of the run carries all four, as bench/hot's memory run.
        const lists = (['heartbeat', 'validate', 'activate', 'list'] as const).map((b) => requestsOf(b, fleet.seeded));
        requests = [];
        for (let i = 0; i < Math.max(...lists.map((l) => l.length)); i++)
          for (const list of lists) requests.push(list[i % list.length]!);
      } else requests = requestsOf(bench, fleet.seeded);
      const warmup = await load(server.url, requests, WARMUP);
      const cpu = server.cpuSeconds();
      const dbCpu = await databaseCpu(cluster, database);
      const result = await load(server.url, requests, bench === 'memory' ? Math.max(DURATION * 3, 30) : DURATION);
      const cpuMs = ((server.cpuSeconds() - cpu) * 1000) / result.requests.total;
      const dbCpuMs = (cpuSince(dbCpu, await databaseCpu(cluster, database)) * 1000) / result.requests.total;
      assertAllOk(`${bench}, ${fleet.label}`, server, warmup, result);
      await sleep(2000);
      return {
        bench,
        fleet: fleet.label,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuMs,
        dbCpuMs,
        requests: result.requests.total,
        rssIdle,
        rssAfter: server.memory().rss,
      };
    } finally {
      await server.stop();
    }
  } finally {
    if (writes) await cluster.dropDatabase(copy);
  }
}

async function deadRun(fleet: Fleet, secret: string) {
  const server = await start(fleet.url, secret);
  try {
    const dead = await deadFilter(server.url, fleet.seeded.adminToken);
    if (dead.count !== 100) throw new Error(`dead filter, ${fleet.label}: a page of ${dead.count}, not 100`);
    return dead;
  } finally {
    await server.stop();
  }
}

/**
 * A copy of the fleet whose dead machines the worker will deactivate: their graveyard policy is
 * KEEP_DEAD for the DEAD filter's sake, and a pass over it would only record their death. The
 * common production case is DEACTIVATE_DEAD, which also writes count deltas and folds them.
 */
async function cullCopy(cluster: BenchCluster, fleet: Fleet, name: string): Promise<string> {
  const url = await cluster.createDatabase(name, fleet.database);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(`update policies set heartbeat_cull_strategy = 'DEACTIVATE_DEAD' where id = $1`, [
      fleet.seeded.graveyardPolicyId,
    ]);
  } finally {
    await db.end();
  }
  return url;
}

/**
 * The worker's pass as `licentric worker` runs it on its schedule: `workerPass` (the culling
 * pass, then processes, expiry, sweeps and the retention trim at the default retention) on an ORM
 * with the worker's pool of 2, in this process, which is not the server's.
 */
async function pass(
  url: string,
  fleet: Fleet,
  expected = fleet.seeded.dead,
): Promise<WorkerPassResult & { wallMs: number }> {
  const orm = await initOrm({ clientUrl: url, entities: ENTITIES, log, poolSize: 2 });
  try {
    const started = performance.now();
    const result = await workerPass(orm, systemClock, log, DEFAULT_RETENTION);
    const wallMs = performance.now() - started;
    if (result.deactivated !== expected || result.markedDead !== 0)
      throw new Error(
        `pass, ${fleet.label}: ${result.deactivated} deactivated and ${result.markedDead} marked dead, not ${expected} and 0`,
      );
    return { ...result, wallMs };
  } finally {
    await orm.close();
  }
}

/** One event per deactivated machine, and every license's count folded right. */
async function checkCulled(url: string, fleet: Fleet): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const {
    rows: [check],
  } = await db
    .query<{ events: number; counted: boolean }>(
      `select (select count(*)::int from events where type = $1) as events,
                (select bool_and(l.machine_count = (select count(*) from machines m where m.license_id = l.id and m.deleted_at is null))
                   from licenses l) as counted`,
      [MACHINE_EVENTS.deactivated],
    )
    .finally(() => db.end());
  if (check!.events !== fleet.seeded.dead || !check!.counted)
    throw new Error(`pass, ${fleet.label}: ${check!.events} events, counts right: ${check!.counted}`);
}

async function cullAlone(cluster: BenchCluster, fleet: Fleet, n: number) {
  const name = `${DATABASE_PREFIX}scale_cull_${n}`;
  const url = await cullCopy(cluster, fleet, name);
  try {
    const result = await pass(url, fleet);
    await checkCulled(url, fleet);
    // The next minute's pass, with nothing left to cull: what a healthy fleet's passes cost.
    const idle = await pass(url, fleet, 0);
    return { ...result, idle };
  } finally {
    await cluster.dropDatabase(name);
  }
}

/**
 * Heartbeats on one server for DURATION s, then again while the pass runs: the load starts, the
 * pass a second later (the load generator is up by then), and the load is stopped as the pass
 * ends, so the second window is the pass's own (give or take autocannon's one-second tick).
 */
async function cullUnderLoad(cluster: BenchCluster, fleet: Fleet, secret: string, n: number) {
  const name = `${DATABASE_PREFIX}scale_cull_${n}`;
  const url = await cullCopy(cluster, fleet, name);
  try {
    const server = await start(url, secret);
    try {
      const requests = requestsOf('heartbeat', fleet.seeded);
      assertAllOk('heartbeat warm-up', server, await load(server.url, requests, WARMUP));
      const before = await load(server.url, requests, DURATION);
      assertAllOk('heartbeat before the pass', server, before);
      const stop = new AbortController();
      // Far longer than any pass: it is the pass's end that stops it.
      const during = load(server.url, requests, 3600, stop.signal);
      await sleep(1000);
      const passed = await pass(url, fleet).finally(() => stop.abort());
      const measured = await during;
      assertAllOk('heartbeat during the pass', server, measured);
      await checkCulled(url, fleet);
      return { before, during: measured, passed };
    } finally {
      await server.stop();
    }
  } finally {
    await cluster.dropDatabase(name);
  }
}

function describe(o: Outcome): string {
  return (
    `${o.bench}, ${o.fleet}: ${o.rps.toFixed(0)} req/s, p50 ${o.p50} ms, p99 ${o.p99} ms, ` +
    `CPU server ${o.cpuMs.toFixed(2)} + PostgreSQL ${o.dbCpuMs.toFixed(2)} ms/request (${o.requests} requests), ` +
    `RSS idle ${mib(o.rssIdle)}, after ${mib(o.rssAfter)}`
  );
}

const pad = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');

async function main(): Promise<void> {
  const runStarted = performance.now();
  const cluster = await openCluster();
  try {
    console.log(`bench/scale  ${new Date().toISOString()}`);
    await printSetting(cluster);
    console.log(`serve: node ${serveCommand(ROOT).join(' ')}`);
    const secret = randomBytes(48).toString('base64url');

    // A bulk load checkpoints every max_wal_size (1 GB by default) of WAL, writing every page it
    // dirtied several times over. On the bench's own embedded server only, for the seed only.
    const embedded = cluster.source === 'embedded';
    if (embedded) {
      await cluster.admin.query(`alter system set max_wal_size = '32GB'`);
      await cluster.admin.query('select pg_reload_conf()');
    }
    const seedStarted = performance.now();
    const fleets: Fleet[] = [];
    try {
      fleets.push(await seed(cluster, 'small', SMALL, secret));
      fleets.push(await seed(cluster, 'big', BIG, secret));
    } finally {
      if (embedded) {
        await cluster.admin.query('alter system reset max_wal_size');
        await cluster.admin.query('select pg_reload_conf()');
        await cluster.admin.query('checkpoint');
      }
    }
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(
      `seeding both: ${seedSeconds.toFixed(1)} s. ${LICENSES} fleet licenses, 1 machine in ${DEAD_EVERY} dead ` +
        `(KEEP_DEAD), 100 licenses of 5; ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${DURATION} s measured, ${ROUNDS} round(s)`,
    );

    const benches = (['heartbeat', 'validate', 'activate', 'list', 'memory'] as const).filter((b) => ONLY.has(b));
    const outcomes: Outcome[] = [];
    const deads = new Map<string, Awaited<ReturnType<typeof deadRun>>[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      // Small and big side by side for each bench, the other way round every other round, so a
      // machine that drifts weighs on both alike.
      const order = round % 2 === 1 ? fleets : [...fleets].reverse();
      for (const bench of benches)
        for (const fleet of order) {
          const outcome = await throughput(cluster, fleet, secret, bench, outcomes.length + 1);
          outcomes.push(outcome);
          console.log(`round ${round}, ${describe(outcome)}; load average ${loadAverage()}`);
        }
      if (ONLY.has('dead'))
        for (const fleet of order) {
          const dead = await deadRun(fleet, secret);
          deads.set(fleet.label, [...(deads.get(fleet.label) ?? []), dead]);
          console.log(
            `round ${round}, dead, ${fleet.label}: first page median ${dead.median.toFixed(1)} ms, p90 ${dead.p90.toFixed(1)} ms; load average ${loadAverage()}`,
          );
        }
    }

    const [small, big] = fleets as [Fleet, Fleet];
    const alone = new Map<string, Awaited<ReturnType<typeof pass>>>();
    let culling: Awaited<ReturnType<typeof cullUnderLoad>> | undefined;
    if (ONLY.has('cull')) {
      console.log(`\nthe worker's pass (DEACTIVATE_DEAD), alone, on a copy of each fleet:`);
      for (const fleet of fleets) {
        const result = await cullAlone(cluster, fleet, alone.size + 1);
        alone.set(fleet.label, result);
        console.log(
          `pass, ${fleet.label}: ${(result.wallMs / 1000).toFixed(2)} s (cull ${(result.ms / 1000).toFixed(2)} s, ` +
            `${result.batches} batches, ${grouped(result.deactivated)} deactivated); the next, nothing to cull: ` +
            `${(result.idle.wallMs / 1000).toFixed(2)} s, ${result.idle.batches} batches; load average ${loadAverage()}`,
        );
      }
      culling = await cullUnderLoad(cluster, big, secret, 3);
      console.log(
        `pass, big, under heartbeats: ${(culling.passed.wallMs / 1000).toFixed(2)} s (cull ${(culling.passed.ms / 1000).toFixed(2)} s); ` +
          `heartbeats before it ${culling.before.requests.average.toFixed(0)} req/s, p99 ${culling.before.latency.p99} ms; ` +
          `during it (${culling.during.duration} s) ${culling.during.requests.average.toFixed(0)} req/s, p99 ${culling.during.latency.p99} ms; load average ${loadAverage()}`,
      );
    }

    const mean = (bench: string, fleet: string) => {
      const runs = outcomes.filter((o) => o.bench === bench && o.fleet === fleet);
      const avg = (pick: (o: Outcome) => number) => runs.reduce((sum, o) => sum + pick(o), 0) / runs.length;
      return {
        rps: avg((o) => o.rps),
        p99: avg((o) => o.p99),
        cpuMs: avg((o) => o.cpuMs),
        dbCpuMs: avg((o) => o.dbCpuMs),
        rssIdle: avg((o) => o.rssIdle),
        rssAfter: avg((o) => o.rssAfter),
      };
    };
    const widths = [34, 42, 42, 8, 5];
    const row = (cells: string[]) => console.log(pad(cells, widths));
    const holds = (ok: boolean) => (ok ? 'yes' : 'NO');
    console.log(
      `\nmeans of ${ROUNDS} round(s); ratio: ${grouped(big.machines)} machines to ${grouped(small.machines)}, ` +
        `target ≥ ${TARGET_RATIO}× (RSS ≤ ${(1 / TARGET_RATIO).toFixed(2)}×); CPU per request: server + PostgreSQL`,
    );
    row(['', grouped(small.machines), grouped(big.machines), 'ratio', 'holds']);
    for (const bench of (['heartbeat', 'validate', 'activate', 'list'] as const).filter((b) => ONLY.has(b))) {
      const [s, b] = [mean(bench, 'small'), mean(bench, 'big')];
      const cell = (m: typeof s) =>
        `${m.rps.toFixed(0)}/s, p99 ${m.p99.toFixed(0)} ms, ${m.cpuMs.toFixed(2)}+${m.dbCpuMs.toFixed(2)} ms`;
      const ratio = b.rps / s.rps;
      row([bench, cell(s), cell(b), `${ratio.toFixed(2)}×`, holds(ratio >= TARGET_RATIO)]);
    }
    if (ONLY.has('dead')) {
      const medianOf = (label: string) => {
        const runs = deads.get(label)!;
        return runs.reduce((sum, d) => sum + d.median, 0) / runs.length;
      };
      const [deadSmall, deadBig] = [medianOf('small'), medianOf('big')];
      // A time, not a rate: small's over big's, so that above 1 is better here too.
      row([
        'dead filter, first page (median)',
        `${deadSmall.toFixed(1)} ms`,
        `${deadBig.toFixed(1)} ms`,
        `${(deadSmall / deadBig).toFixed(2)}×`,
        holds(deadSmall / deadBig >= TARGET_RATIO),
      ]);
    }
    if (ONLY.has('memory')) {
      const [memSmall, memBig] = [mean('memory', 'small'), mean('memory', 'big')];
      for (const [label, pick] of [
        ['RSS idle', (m: typeof memSmall) => m.rssIdle],
        ['RSS after the mixed load', (m: typeof memSmall) => m.rssAfter],
      ] as const) {
        // "The same": no more than the 0.9× the other figures may lose, read the other way up.
        const ratio = pick(memBig) / pick(memSmall);
        row([label, mib(pick(memSmall)), mib(pick(memBig)), `${ratio.toFixed(2)}×`, holds(ratio <= 1 / TARGET_RATIO)]);
      }
    }
    if (culling) {
      const p99Ratio = culling.during.latency.p99 / culling.before.latency.p99;
      row([
        'heartbeat p99, pass running (big)',
        `${culling.before.latency.p99} ms without the pass`,
        `${culling.during.latency.p99} ms while it runs`,
        `${p99Ratio.toFixed(2)}×`,
        holds(p99Ratio <= TARGET_CULL_P99),
      ]);
      const [passSmall, passBig] = [alone.get('small')!.wallMs / 1000, alone.get('big')!.wallMs / 1000];
      row([
        "the worker's pass, alone",
        `${passSmall.toFixed(2)} s`,
        `${passBig.toFixed(2)} s (${(culling.passed.wallMs / 1000).toFixed(2)} s under load)`,
        `${(passBig / passSmall).toFixed(1)}×`,
        '—',
      ]);
    }
    console.log(
      `\nseeding ${seedSeconds.toFixed(0)} s; the whole run ${((performance.now() - runStarted) / 60_000).toFixed(1)} min; load average at end: ${loadAverage()}`,
    );
  } finally {
    await cluster.close();
  }
}

run(main);
