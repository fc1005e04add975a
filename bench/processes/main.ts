/**
 * bench/processes: concurrent seats (processes) over HTTP, against the naive baseline where one
 * applies, in alternating order:
 *
 * - process-heartbeat  POST /processes/{id}/heartbeat over BENCH_PROCESS_LICENSES × 10 processes,
 *                      licentric serve (group commit) vs the baseline (the same statement per request)
 * - spawn-race         50 concurrent spawns on a license of 10 floating seats: exactly 10 win,
 *                      the race's wall time
 * - seats-big          spawn then release, in a loop, on a PER_LICENSE license holding
 *                      BENCH_BIG_PROCESSES (10 000) live processes, vs seats-small (3 live)
 *
 *   make bench-processes
 *   BENCH_DURATION=5 BENCH_WARMUP=2 BENCH_ROUNDS=1 make bench-processes     # a quicker run
 */
import { randomBytes } from 'node:crypto';
import type { Result } from 'autocannon';
import pg from 'pg';
import { uuidv7 } from '../../src/core/ids.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import { generateLicenseKey } from '../../src/keys/license-key.ts';
import type { LoadPlan, PlannedRequest } from '../hot/load.ts';
import {
  type BenchCluster,
  DATABASE_PREFIX,
  describeHost,
  envInteger,
  loadAverage,
  migrateDatabase,
  openCluster,
  run,
} from '../support/cluster.ts';
import { ROOT, type Running, runLoad, serveCommand, startServer } from '../support/processes.ts';

const LICENSES = envInteger('BENCH_PROCESS_LICENSES', 100);
const BIG = envInteger('BENCH_BIG_PROCESSES', 10_000);
const CONNECTIONS = envInteger('BENCH_CONNECTIONS', 20);
const WARMUP = envInteger('BENCH_WARMUP', 3);
const DURATION = envInteger('BENCH_DURATION', 10);
const ROUNDS = envInteger('BENCH_ROUNDS', 2);
const RACES = envInteger('BENCH_RACES', 20);
/** Spawn-release loops running at once in the seats runs. */
const LOOPS = envInteger('BENCH_SEAT_LOOPS', 8);
const SEED_DB = `${DATABASE_PREFIX}processes_seed`;

type Target = 'licentric serve' | 'baseline';

interface Seeded {
  beats: { id: string; key: string }[];
  race: { key: string; machines: string[] };
  big: { key: string; machines: string[] };
  small: { key: string; machines: string[] };
}

async function seed(db: pg.Client, hasher: KeyHasher): Promise<Seeded> {
  const now = new Date();
  const [open, seats, race] = [uuidv7(), uuidv7(), uuidv7()];
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, max_processes, process_leasing_strategy, process_heartbeat_duration)
     values ($1, 'bench processes', 'BENCH', $4, $4, null, 'PER_MACHINE', 3600),
            ($2, 'bench seats', 'BENCH', $4, $4, ${BIG * 2}, 'PER_LICENSE', 3600),
            ($3, 'bench race', 'BENCH', $4, $4, 10, 'PER_LICENSE', 3600)`,
    [open, seats, race, now],
  );
  const license = async (policy: string, machines: number) => {
    const key = generateLicenseKey('BENCH');
    const id = uuidv7();
    await db.query(
      `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at) values ($1, $2, $3, 'BENCH-…', $4, $4)`,
      [id, policy, hasher.hash('license-key', key), now],
    );
    const ids: string[] = [];
    for (let i = 0; i < machines; i++) {
      const machine = uuidv7();
      await db.query(
        `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
         values ($1, $2, $3, '{}', $4, $4, $4)`,
        [machine, id, `bench-${machine}`, now],
      );
      ids.push(machine);
    }
    return { id, key, machines: ids };
  };
  const processes = (licenseId: string, machines: string[], n: number) =>
    db.query(
      `insert into processes (id, machine_id, license_id, metadata, last_heartbeat_at, created_at)
       select gen_random_uuid(), ($2::uuid[])[1 + i % array_length($2::uuid[], 1)], $1, '{}', $4, $4 from generate_series(1, $3::int) i`,
      [licenseId, machines, n, now],
    );
  const fleet = [];
  for (let i = 0; i < LICENSES; i++) {
    const l = await license(open, 1);
    await processes(l.id, l.machines, 10);
    fleet.push(l);
  }
  const big = await license(seats, 10);
  await processes(big.id, big.machines, BIG);
  const small = await license(seats, 10);
  await processes(small.id, small.machines, 3);
  const racing = await license(race, 5);
  // The counts, as a fold would have left them.
  await db.query(`update licenses l set process_count = (select count(*) from processes p where p.license_id = l.id)`);
  await db.query(`update machines m set process_count = (select count(*) from processes p where p.machine_id = m.id)`);
  await db.query('delete from process_count_deltas');
  await db.query('vacuum (analyze)');
  const keyOf = new Map(fleet.map((l) => [l.id, l.key]));
  const { rows } = await db.query<{ id: string; license_id: string }>(
    'select id, license_id from processes where license_id = any($1::uuid[]) order by id',
    [fleet.map((l) => l.id)],
  );
  return {
    beats: rows.map((row) => ({ id: row.id, key: keyOf.get(row.license_id)! })),
    race: { key: racing.key, machines: racing.machines },
    big: { key: big.key, machines: big.machines },
    small: { key: small.key, machines: small.machines },
  };
}

const licenseHeader = (key: string) => ({ authorization: `License ${key}` });

function start(target: Target, url: string, secret: string): Promise<Running> {
  return target === 'baseline'
    ? startServer(target, ['bench/heartbeat/baseline.ts'], { DATABASE_URL: url, LICENTRIC_SECRET: secret })
    : startServer(target, serveCommand(ROOT), {
        DATABASE_URL: url,
        LICENTRIC_SECRET: secret,
        LICENTRIC_RATE_LIMITS: 'off',
      });
}

function load(url: string, requests: PlannedRequest[], duration: number): Promise<Result> {
  return runLoad('bench/hot/load.ts', { url, connections: CONNECTIONS, duration, requests } satisfies LoadPlan);
}

async function heartbeats(cluster: BenchCluster, secret: string, seeded: Seeded, target: Target, n: number) {
  const name = `${DATABASE_PREFIX}processes_${n}`;
  const url = await cluster.createDatabase(name, SEED_DB);
  try {
    const server = await start(target, url, secret);
    try {
      const requests: PlannedRequest[] = seeded.beats.map((b) => ({
        method: 'POST',
        path: `/api/v1/processes/${b.id}/heartbeat`,
        headers: licenseHeader(b.key),
      }));
      const warmup = await load(server.url, requests, WARMUP);
      const cpu = server.cpuSeconds();
      const result = await load(server.url, requests, DURATION);
      const cpuMs = ((server.cpuSeconds() - cpu) * 1000) / result.requests.total;
      const failed = [warmup, result].reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0);
      if (failed > 0) throw new Error(`process-heartbeat, ${target}: ${failed} requests failed`);
      return { rps: result.requests.average, p99: result.latency.p99, cpuMs };
    } finally {
      await server.stop();
    }
  } finally {
    await cluster.dropDatabase(name);
  }
}

function spawn(base: string, key: string, machine: string): Promise<Response> {
  return fetch(`${base}/api/v1/machines/${machine}/processes`, {
    method: 'POST',
    headers: { ...licenseHeader(key), 'content-type': 'application/json' },
    body: '{}',
  });
}

async function release(base: string, key: string, id: string): Promise<void> {
  const response = await fetch(`${base}/api/v1/processes/${id}`, { method: 'DELETE', headers: licenseHeader(key) });
  if (response.status !== 200) throw new Error(`release: ${response.status} ${await response.text()}`);
}

/** RACES races of 50 spawns on 10 seats; each must seat exactly 10. Median and p90 wall time. */
async function spawnRaces(server: Running, seeded: Seeded): Promise<{ median: number; p90: number }> {
  const times: number[] = [];
  for (let race = 0; race < RACES; race++) {
    const started = performance.now();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => spawn(server.url, seeded.race.key, seeded.race.machines[i % 5]!)),
    );
    times.push(performance.now() - started);
    const won = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status === 422);
    if (won.length !== 10 || refused.length !== 40)
      throw new Error(`spawn race: ${won.length} seated, ${refused.length} refused of 50 for 10 seats`);
    const ids = await Promise.all(won.map(async (r) => ((await r.json()) as { data: { id: string } }).data.id));
    await Promise.all(responses.filter((r) => r.status !== 201).map((r) => r.arrayBuffer()));
    for (const id of ids) await release(server.url, seeded.race.key, id);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, p90: times[Math.floor(times.length * 0.9)]! };
}

/** LOOPS loops of spawn-then-release on one license for `seconds`: cycles per second. */
async function seatCycles(server: Running, license: Seeded['big'], seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let cycles = 0;
  await Promise.all(
    Array.from({ length: LOOPS }, async (_, loop) => {
      for (let i = loop; performance.now() < until; i += LOOPS) {
        const response = await spawn(server.url, license.key, license.machines[i % license.machines.length]!);
        if (response.status !== 201) throw new Error(`spawn: ${response.status} ${await response.text()}`);
        const { data } = (await response.json()) as { data: { id: string } };
        await release(server.url, license.key, data.id);
        cycles += 1;
      }
    }),
  );
  return cycles / seconds;
}

async function main(): Promise<void> {
  const cluster = await openCluster();
  try {
    console.log(`bench/processes  ${new Date().toISOString()}`);
    console.log(`host: ${await describeHost()}; load average at start: ${loadAverage()}`);
    console.log(`PostgreSQL: ${cluster.version} (${cluster.source})`);
    console.log(`serve: node ${serveCommand(ROOT).join(' ')}`);
    const seedUrl = await cluster.createDatabase(SEED_DB);
    await migrateDatabase(seedUrl);
    const secret = randomBytes(48).toString('base64url');
    const db = new pg.Client({ connectionString: seedUrl });
    await db.connect();
    let seeded: Seeded;
    try {
      seeded = await seed(db, new KeyHasher(secret));
    } finally {
      await db.end();
    }
    console.log(
      `${seeded.beats.length} processes over ${LICENSES} licenses to beat; a PER_LICENSE license of ${BIG} live processes and one of 3; ` +
        `${CONNECTIONS} connections, ${WARMUP} s warm-up, ${DURATION} s measured, ${ROUNDS} round(s), ABBA`,
    );

    const beats: Record<Target, { rps: number; p99: number; cpuMs: number }[]> = {
      'licentric serve': [],
      baseline: [],
    };
    const order: Target[] = ['licentric serve', 'baseline'];
    let n = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of round % 2 === 1 ? order : [...order].reverse()) {
        const outcome = await heartbeats(cluster, secret, seeded, target, ++n);
        beats[target].push(outcome);
        console.log(
          `round ${round}, process-heartbeat, ${target}: ${outcome.rps.toFixed(0)} req/s, p99 ${outcome.p99.toFixed(1)} ms, ` +
            `server CPU ${outcome.cpuMs.toFixed(2)} ms/request; load average ${loadAverage()}`,
        );
      }
    }

    // Spawns and releases write: a copy of the seed of their own.
    const name = `${DATABASE_PREFIX}processes_seats`;
    const url = await cluster.createDatabase(name, SEED_DB);
    const cycles: Record<'big' | 'small', number[]> = { big: [], small: [] };
    let races: { median: number; p90: number };
    try {
      const server = await start('licentric serve', url, secret);
      try {
        races = await spawnRaces(server, seeded);
        console.log(`spawn race: ${RACES} races of 50 spawns for 10 seats, 10 seated each time`);
        await seatCycles(server, seeded.small, WARMUP);
        await seatCycles(server, seeded.big, WARMUP);
        for (let round = 1; round <= ROUNDS; round++) {
          for (const which of round % 2 === 1 ? (['small', 'big'] as const) : (['big', 'small'] as const)) {
            const rate = await seatCycles(server, seeded[which], DURATION);
            cycles[which].push(rate);
            console.log(
              `round ${round}, seats-${which}: ${rate.toFixed(0)} spawn+release/s; load average ${loadAverage()}`,
            );
          }
        }
      } finally {
        await server.stop();
      }
    } finally {
      await cluster.dropDatabase(name);
    }

    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const serve = beats['licentric serve'];
    const base = beats.baseline;
    console.log('');
    console.log(
      `process-heartbeat: licentric serve / baseline ${(mean(serve.map((o) => o.rps)) / mean(base.map((o) => o.rps))).toFixed(2)}× ` +
        `(${mean(serve.map((o) => o.rps)).toFixed(0)} vs ${mean(base.map((o) => o.rps)).toFixed(0)} req/s), ` +
        `p99 ${mean(serve.map((o) => o.p99)).toFixed(1)} vs ${mean(base.map((o) => o.p99)).toFixed(1)} ms, ` +
        `server CPU ${mean(serve.map((o) => o.cpuMs)).toFixed(2)} vs ${mean(base.map((o) => o.cpuMs)).toFixed(2)} ms/request`,
    );
    console.log(
      `spawn race (50 spawns, 10 seats): median ${races.median.toFixed(1)} ms, p90 ${races.p90.toFixed(1)} ms`,
    );
    console.log(
      `spawn+release with ${BIG} live processes / with 3: ${(mean(cycles.big) / mean(cycles.small)).toFixed(2)}× ` +
        `(${mean(cycles.big).toFixed(0)} vs ${mean(cycles.small).toFixed(0)} per second, ${LOOPS} loops)`,
    );
    console.log(`load average at end: ${loadAverage()}`);
  } finally {
    await cluster.close();
  }
}

run(main);
