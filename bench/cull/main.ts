/**
 * bench/cull: one culling pass over N machines (default 1 000 000), half of them dead, against
 * the same work done by one hand-written SQL statement; then the pass again with a BRIN and with
 * a btree index on machines.last_heartbeat_at. Every variant runs on its own copy of one seeded
 * database (CREATE DATABASE … TEMPLATE), so all start from identical data.
 *
 *   make bench-cull                                        # 1 000 000 machines, two rounds
 *   BENCH_MACHINES=100000 BENCH_ROUNDS=1 make bench-cull  # a quicker run
 */
import pg from 'pg';
import { ManualClock } from '../../src/core/clock.ts';
import { initOrm } from '../../src/db/orm.ts';
import { isoTimestampSql, sql } from '../../src/db/sql.ts';
import { ENTITIES } from '../../src/entities.ts';
import { cullPass } from '../../src/machines/cull.ts';
import { MACHINE_EVENTS } from '../../src/machines/events.ts';
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
  seconds,
  uuidv7Sql,
} from '../support/cluster.ts';

const MACHINES = envInteger('BENCH_MACHINES', 1_000_000);
const LICENSES = envInteger('BENCH_LICENSES', 1_000);
const DEAD = Math.floor(MACHINES / 2);
const ROUNDS = envInteger('BENCH_ROUNDS', 2);
const POLICY_ID = '01900000-0000-7000-8000-000000000001';
const HEARTBEAT_DURATION = 600;

/** The pass's instant: every dead machine missed its deadline by far, every live one is well inside it. */
const NOW = new Date('2026-06-01T12:00:00.000Z');
const SEED_DB = `${DATABASE_PREFIX}cull_seed`;

type Index = 'none' | 'brin' | 'btree';

const INDEX_SQL: Record<Exclude<Index, 'none'>, string> = {
  brin: 'create index machines_last_heartbeat_at_brin on machines using brin (last_heartbeat_at)',
  btree: 'create index machines_last_heartbeat_at_btree on machines (last_heartbeat_at)',
};

/**
 * The pass's work for DEACTIVATE_DEAD as one statement, written by hand: the same rows, the
 * same columns, the same event rows and payloads, in one transaction with no batching.
 */
const ONE_STATEMENT = `
  with culled as (
    update machines m
       set deleted_at = $1, deactivation_reason = 'HEARTBEAT_DEAD', updated_at = $1,
           dead_at = m.last_heartbeat_at + make_interval(secs => p.heartbeat_duration)
      from licenses l join policies p on p.id = l.policy_id
     where l.id = m.license_id
       and m.deleted_at is null
       and p.require_heartbeat
       and p.heartbeat_cull_strategy = 'DEACTIVATE_DEAD'
       and $1 >= m.last_heartbeat_at + make_interval(secs => p.heartbeat_duration + p.heartbeat_resurrection_window)
    returning m.id, m.license_id, m.dead_at
  )
  insert into events (type, occurred_at, machine_id, license_id, data)
  select '${MACHINE_EVENTS.deactivated}', $1, id, license_id,
         jsonb_build_object('reason', 'HEARTBEAT_DEAD', 'diedAt', ${isoTimestampSql(sql.raw('dead_at')).text})
    from culled`;

async function seed(cluster: BenchCluster): Promise<void> {
  const url = await cluster.createDatabase(SEED_DB);
  await migrateDatabase(url);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const started = performance.now();
    const now = NOW.toISOString();
    await db.query(
      `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                             heartbeat_cull_strategy, heartbeat_resurrection_window)
       values ($1, 'bench', 'BENCH', $2, $2, true, $3, 'DEACTIVATE_DEAD', 0)`,
      [POLICY_ID, now, HEARTBEAT_DURATION],
    );
    // Keys are never presented here: a distinct hash per license is all the schema needs.
    await db.query(
      `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at)
       select ${uuidv7Sql('1700000000000 + i', "'license' || i")}, $1, sha256(('license-' || i)::bytea), 'BENCH-…', $2, $2
         from generate_series(1, $3::int) i`,
      [POLICY_ID, now, LICENSES],
    );
    // Machine i belongs to license (i mod L); every even one is dead. Alternating spreads the
    // dead over every heap page, the worst case for a pass that must find them.
    await db.query(
      `insert into machines (id, license_id, fingerprint, last_heartbeat_at, created_at, updated_at)
       select ${uuidv7Sql('1750000000000 + i', "'machine' || i")},
              ${uuidv7Sql(`1700000000000 + 1 + (i % $1::int)`, `'license' || (1 + (i % $1::int))`)},
              'fingerprint-' || i,
              case when i % 2 = 0 then $2::timestamptz - interval '2 hours' else $2::timestamptz - interval '1 minute' end,
              $2::timestamptz - interval '30 days', $2::timestamptz - interval '30 days'
         from generate_series(1, $3::int) i`,
      [LICENSES, now, MACHINES],
    );
    // A template copy keeps statistics, hint bits and the visibility map: every variant starts
    // from the state a long-running database would be in, not from freshly inserted rows.
    await db.query('vacuum (analyze) policies, licenses, machines, events');
    const {
      rows: [size],
    } = await db.query<{ machines: string; indexes: string }>(
      `select pg_size_pretty(pg_table_size('machines')) as machines, pg_size_pretty(pg_indexes_size('machines')) as indexes`,
    );
    console.log(
      `seeded ${MACHINES} machines (${DEAD} dead) over ${LICENSES} licenses in ${seconds(performance.now() - started)} s; machines: ${size!.machines} heap, ${size!.indexes} indexes`,
    );
  } finally {
    await db.end();
  }
}

interface Outcome {
  label: string;
  seconds: number;
  batches?: number;
  idlePassSeconds?: number;
  heartbeatIndexScans?: number;
}

/** Waits until only our own connection is left, so the others' statistics are flushed. */
async function othersGone(db: pg.Client): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    if (rows[0]!.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How often the planner used the index on last_heartbeat_at, once every other session's counts are in. */
async function heartbeatIndexScans(db: pg.Client): Promise<number> {
  await othersGone(db);
  const { rows } = await db.query<{ scans: string }>(
    "select idx_scan as scans from pg_stat_user_indexes where indexrelname like 'machines_last_heartbeat_at_%'",
  );
  return Number(rows[0]?.scans ?? 0);
}

/**
 * Reads the copy's table once, so no variant pays for the first read of its files. On its own
 * connection: the planner may count(*) through the new index, and that scan must not be
 * counted as the pass's.
 */
async function warm(url: string): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('select count(*) from machines');
    await db.query("select count(*) from machines where id > '00000000-0000-0000-0000-000000000000'");
  } finally {
    await db.end();
  }
}

async function check(db: pg.Client, label: string): Promise<void> {
  const {
    rows: [counts],
  } = await db.query<{ culled: number; events: number; machines_with_events: number; active: number }>(
    `select (select count(*)::int from machines where deactivation_reason = 'HEARTBEAT_DEAD' and deleted_at = $1) as culled,
            (select count(*)::int from events where type = $2) as events,
            (select count(distinct machine_id)::int from events) as machines_with_events,
            (select count(*)::int from machines where deleted_at is null) as active`,
    [NOW, MACHINE_EVENTS.deactivated],
  );
  const expected = { culled: DEAD, events: DEAD, machines_with_events: DEAD, active: MACHINES - DEAD };
  if (JSON.stringify(counts) !== JSON.stringify(expected)) {
    throw new Error(`${label}: expected ${JSON.stringify(expected)}, found ${JSON.stringify(counts)}`);
  }
}

async function variant(
  cluster: BenchCluster,
  n: number,
  label: string,
  index: Index,
  kind: 'pass' | 'statement',
): Promise<Outcome> {
  const name = `${DATABASE_PREFIX}cull_${n}`;
  const url = await cluster.createDatabase(name, SEED_DB);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    if (index !== 'none') await db.query(INDEX_SQL[index]);
    await warm(url);
    // So no variant pays for flushing what the copy and the index build dirtied. It needs
    // superuser or pg_checkpoint on a DATABASE_URL server; without, the run goes on.
    await db.query('checkpoint').catch(() => undefined);
    const scansBefore = index === 'none' ? 0 : await heartbeatIndexScans(db);

    const outcome: Outcome = { label, seconds: 0 };
    if (kind === 'statement') {
      const started = performance.now();
      await db.query(ONE_STATEMENT, [NOW]);
      outcome.seconds = (performance.now() - started) / 1000;
    } else {
      const orm = await initOrm({ clientUrl: url, entities: ENTITIES, log, poolSize: 2 });
      try {
        const clock = new ManualClock(NOW);
        const started = performance.now();
        const result = await cullPass(orm.em.fork(), clock, log);
        outcome.seconds = (performance.now() - started) / 1000;
        outcome.batches = result.batches;
        if (result.deactivated !== DEAD || result.markedDead !== 0) {
          throw new Error(
            `${label}: the pass reported ${result.deactivated} deactivated, ${result.markedDead} marked dead`,
          );
        }
        // What a pass costs when there is nothing to do: every minute, in a healthy fleet.
        const idleStarted = performance.now();
        const idle = await cullPass(orm.em.fork(), clock, log);
        outcome.idlePassSeconds = (performance.now() - idleStarted) / 1000;
        if (idle.deactivated !== 0) throw new Error(`${label}: the second pass culled ${idle.deactivated}`);
      } finally {
        await orm.close();
      }
    }
    if (index !== 'none') outcome.heartbeatIndexScans = (await heartbeatIndexScans(db)) - scansBefore;
    await check(db, label);
    return outcome;
  } finally {
    await db.end();
    await cluster.dropDatabase(name);
  }
}

async function main(): Promise<void> {
  const cluster = await openCluster();
  try {
    console.log(`bench/cull  ${new Date().toISOString()}`);
    await printSetting(cluster);
    await seed(cluster);

    const variants: [string, Index, 'pass' | 'statement'][] = [
      ['cullPass, no index (as shipped)', 'none', 'pass'],
      ['one SQL statement, no index', 'none', 'statement'],
      ['cullPass, BRIN on last_heartbeat_at', 'brin', 'pass'],
      ['cullPass, btree on last_heartbeat_at', 'btree', 'pass'],
    ];
    const outcomes: Outcome[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Every other round in reverse (ABBA): a machine that slows down or speeds up during the
      // run then weighs on every variant alike.
      for (const [label, index, kind] of round % 2 === 1 ? variants : [...variants].reverse()) {
        const outcome = await variant(cluster, outcomes.length + 1, label, index, kind);
        outcomes.push(outcome);
        console.log(
          `round ${round}, ${label}: ${outcome.seconds.toFixed(2)} s` +
            (outcome.batches === undefined ? '' : ` (${outcome.batches} batches)`) +
            (outcome.idlePassSeconds === undefined
              ? ''
              : `; a pass with nothing to cull: ${outcome.idlePassSeconds.toFixed(2)} s`) +
            (outcome.heartbeatIndexScans === undefined
              ? ''
              : `; index scans of the new index: ${outcome.heartbeatIndexScans}`) +
            `; load average ${loadAverage()}`,
        );
      }
    }

    const mean = (label: string, pick: (o: Outcome) => number | undefined = (o) => o.seconds) => {
      const values = outcomes.filter((o) => o.label === label).map(pick) as number[];
      return values.reduce((a, b) => a + b, 0) / values.length;
    };
    const [pass, statement, brin, btree] = variants.map(([label]) => mean(label)) as [number, number, number, number];
    const idle = variants
      .filter(([, , kind]) => kind === 'pass')
      .map(([label]) => `${label.replace('cullPass, ', '')} ${mean(label, (o) => o.idlePassSeconds).toFixed(2)} s`);
    console.log('');
    console.log(
      `culled ${DEAD} of ${MACHINES} machines with one event each, in every run (checked); means of ${ROUNDS} round(s):`,
    );
    console.log(
      `cullPass ${pass.toFixed(2)} s vs one statement ${statement.toFixed(2)} s: ratio ${(pass / statement).toFixed(2)}`,
    );
    console.log(
      `cullPass with BRIN ${brin.toFixed(2)} s (${(brin / pass).toFixed(2)} × no index), with btree ${btree.toFixed(2)} s (${(btree / pass).toFixed(2)} × no index)`,
    );
    console.log(`a pass with nothing to cull over the ${MACHINES - DEAD} live machines: ${idle.join(', ')}`);
    console.log(`load average at end: ${loadAverage()}`);
  } finally {
    await cluster.close();
  }
}

run(main);
