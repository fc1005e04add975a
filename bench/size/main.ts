/**
 * bench/size: bytes on disk per machine, license, event, webhook delivery and pg-boss job, on a
 * database seeded in SQL with rows shaped as the server writes them, and from those the size of
 * a database for 10 000, 1 000 000 and 10 000 000 machines at the default retention.
 *
 *   make bench-size                               # 100 000 machines
 *   BENCH_MACHINES=1000000 make bench-size        # a larger measurement
 *   BENCH_EVENTS_PER_MACHINE_MONTH=10 make bench-size   # another fleet's habits
 *
 * Each table's size is pg_total_relation_size (heap, TOAST and every index) after VACUUM FULL
 * and ANALYZE: the rows packed as a freshly loaded table holds them. A live table also holds the
 * space of deleted and updated rows that vacuum keeps for reuse, which this does not measure.
 */
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { DEFAULT_RETENTION } from '../../src/db/retention.ts';
import { forDriver, isoTimestampSql, sql } from '../../src/db/sql.ts';
import { machineJsonSql } from '../../src/machines/events.ts';
import { DELIVER } from '../../src/webhooks/relay.ts';
import {
  DATABASE_PREFIX,
  describeHost,
  envInteger,
  loadAverage,
  migrateDatabase,
  openCluster,
  run,
  seconds,
  uuidv7Sql,
} from '../support/cluster.ts';

const MACHINES = envInteger('BENCH_MACHINES', 100_000);
const MACHINES_PER_LICENSE = envInteger('BENCH_MACHINES_PER_LICENSE', 10);
const LICENSES = Math.ceil(MACHINES / MACHINES_PER_LICENSE);
/** Events seeded per machine: its activation, and a death or a deactivation by the worker. */
const EVENTS_PER_MACHINE = 2;
const JOBS = envInteger('BENCH_JOBS', 100_000);

// The projection's assumptions (README, "Retention and database size").
const EVENTS_PER_MACHINE_MONTH = envInteger('BENCH_EVENTS_PER_MACHINE_MONTH', 4);
const ENDPOINTS = envInteger('BENCH_ENDPOINTS', 1);
/** Relay jobs are kept an hour, about one a second (src/webhooks/engine.ts). */
const RELAY_JOBS = 3600;

const DB = `${DATABASE_PREFIX}size`;
const NOW = new Date('2026-06-01T12:00:00.000Z');
const POLICY_ID = '01900000-0000-7000-8000-000000000001';
const ENDPOINT_ID = '01900000-0000-7000-8000-0000000000e1';
const DAY_MS = 24 * 60 * 60 * 1000;
const MONTH_DAYS = 30.44;

interface Measured {
  table: string;
  rows: number;
  bytes: number;
  heap: number;
  indexes: number;
}

async function measure(db: pg.Client, table: string): Promise<Measured> {
  const {
    rows: [row],
  } = await db.query<{ rows: string; bytes: string; heap: string; indexes: string }>(
    `select (select count(*) from ${table}) as rows, pg_total_relation_size($1) as bytes,
            pg_table_size($1) as heap, pg_indexes_size($1) as indexes`,
    [table],
  );
  return {
    table,
    rows: Number(row!.rows),
    bytes: Number(row!.bytes),
    heap: Number(row!.heap),
    indexes: Number(row!.indexes),
  };
}

/** Every table of pg-boss's schema with its TOAST and indexes (a partitioned parent holds nothing itself). */
async function pgBossBytes(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>(
    `select coalesce(sum(pg_total_relation_size(c.oid)), 0) as bytes
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'pgboss' and c.relkind in ('r', 'm')`,
  );
  return Number(rows[0]!.bytes);
}

async function query(db: pg.Client, statement: ReturnType<typeof sql>): Promise<void> {
  const { text, values } = forDriver(statement);
  await db.query(text, values);
}

async function seed(db: pg.Client): Promise<void> {
  const now = NOW.toISOString();
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                           heartbeat_cull_strategy, heartbeat_resurrection_window)
     values ($1, 'bench', 'BENCH', $2, $2, true, 600, 'DEACTIVATE_DEAD', 0)`,
    [POLICY_ID, now],
  );
  await db.query(
    `insert into licenses (id, policy_id, key_hash, key_hint, name, created_at, updated_at)
     select ${uuidv7Sql('1700000000000 + i', "'license' || i")}, $1, sha256(('license-' || i)::bytea), 'BENCH-…' || right(md5(i::text), 4),
            'Customer ' || i, $2, $2
       from generate_series(1, $3::int) i`,
    [POLICY_ID, now, LICENSES],
  );
  // What an SDK sends: a SHA-256 fingerprint, the host's name, platform and cores, a little metadata.
  await db.query(
    `insert into machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at)
     select ${uuidv7Sql('1750000000000 + i', "'machine' || i")},
            ${uuidv7Sql('1700000000000 + 1 + (i % $1::int)', `'license' || (1 + (i % $1::int))`)},
            encode(sha256(('fingerprint-' || i)::bytea), 'hex'), 'WS-' || lpad(i::text, 6, '0'),
            (array['windows', 'macos', 'linux'])[1 + i % 3], 'ws-' || lpad(i::text, 6, '0') || '.corp.example.com', 8,
            json_build_object('appVersion', '4.2.' || (i % 10)),
            $2::timestamptz - interval '1 minute', $2::timestamptz - interval '30 days', $2::timestamptz - interval '30 days'
       from generate_series(1, $3::int) i`,
    [LICENSES, now, MACHINES],
  );
  // The events as the server writes them: the machine rendered by the API's own presenter in SQL.
  await query(
    db,
    sql`insert into events (type, occurred_at, machine_id, license_id, data, relayed_at)
        select 'machine.activated', ${NOW}, m.id, m.license_id, json_build_object('machine', ${machineJsonSql('m', 'p', NOW)}), ${NOW}
          from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id`,
  );
  await query(
    db,
    sql`insert into events (type, occurred_at, machine_id, license_id, data, relayed_at)
        select 'machine.deactivated', ${NOW}, m.id, m.license_id,
               json_build_object('machine', ${machineJsonSql('m', 'p', NOW)}, 'reason', 'HEARTBEAT_DEAD', 'diedAt', ${isoTimestampSql(sql.raw('m.last_heartbeat_at'))}),
               ${NOW}
          from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id`,
  );
  // One endpoint; each event delivered once, first time, as the relay and a delivery job write them.
  await db.query(
    `insert into webhook_endpoints (id, url, enabled, secret, created_at, updated_at)
     values ($1, 'https://billing.example.com/hooks/licentric', true, 'whsec_' || encode(sha256('bench'::bytea), 'base64'), $2, $2)`,
    [ENDPOINT_ID, now],
  );
  await query(
    db,
    sql`insert into webhook_messages (id, endpoint_id, event_id, type, payload, created_at, queued_at, attempts)
        select gen_random_uuid(), ${ENDPOINT_ID}, e.id, e.type,
               json_build_object('type', e.type, 'timestamp', ${isoTimestampSql(sql.raw('e.occurred_at'))}, 'data', e.data)::text,
               ${NOW}, ${NOW}, 1
          from events e`,
  );
  await query(
    db,
    sql`insert into webhook_attempts (id, message_id, endpoint_id, attempt, attempted_at, succeeded, status_code, latency_ms, response_excerpt)
        select gen_random_uuid(), m.id, m.endpoint_id, 1, ${NOW}, true, 200, 120, '{"received":true}'
          from webhook_messages m`,
  );
}

/** Delivery jobs as pg-boss keeps them once done: sent, fetched and completed through its own API. */
async function seedJobs(url: string): Promise<void> {
  const boss = new PgBoss({ connectionString: url, max: 2, supervise: false, schedule: false });
  await boss.start();
  try {
    await boss.createQueue(DELIVER, { expireInSeconds: 70, retryLimit: 5, retryDelay: 5, retryBackoff: true });
    for (let sent = 0; sent < JOBS; sent += 1000) {
      const n = Math.min(1000, JOBS - sent);
      await boss.insert(
        DELIVER,
        Array.from({ length: n }, () => ({
          data: { messageId: crypto.randomUUID(), attempt: 1, dueAt: NOW.toISOString() },
        })),
      );
      const jobs = await boss.fetch(DELIVER, { batchSize: n });
      await boss.complete(
        DELIVER,
        jobs.map((job) => job.id),
      );
    }
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const human = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;

run(async () => {
  console.log(`host: ${await describeHost()}; load average ${loadAverage()}`);
  const cluster = await openCluster();
  try {
    console.log(`PostgreSQL: ${cluster.version} (${cluster.source})`);
    const url = await cluster.createDatabase(DB);
    await migrateDatabase(url);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await db.query('vacuum full analyze');
      const empty = Number(
        (await db.query<{ n: string }>('select pg_database_size(current_database()) as n')).rows[0]!.n,
      );

      let started = performance.now();
      await seed(db);
      console.log(
        `seeded ${MACHINES} machines on ${LICENSES} licenses, ${MACHINES * EVENTS_PER_MACHINE} events, as many deliveries, in ${seconds(performance.now() - started)} s`,
      );
      const bossBefore = await pgBossBytes(db);
      started = performance.now();
      await seedJobs(url);
      console.log(
        `${JOBS} delivery jobs sent and completed through pg-boss in ${seconds(performance.now() - started)} s`,
      );
      await db.query('vacuum full analyze');

      const tables: Measured[] = [];
      for (const table of ['machines', 'licenses', 'events', 'webhook_messages', 'webhook_attempts'])
        tables.push(await measure(db, table));
      const jobBytes = (await pgBossBytes(db)) - bossBefore;
      console.log('\n| table | rows | heap + TOAST MiB | indexes MiB | bytes per row (all) |');
      console.log('| --- | ---: | ---: | ---: | ---: |');
      for (const t of tables)
        console.log(
          `| ${t.table} | ${t.rows} | ${mib(t.heap)} | ${mib(t.indexes)} | ${Math.round(t.bytes / t.rows)} |`,
        );
      console.log(`| pg-boss jobs (completed) | ${JOBS} | | | ${Math.round(jobBytes / JOBS)} |`);
      console.log(`empty migrated database: ${mib(empty)} MiB`);

      const per = Object.fromEntries(tables.map((t) => [t.table, t.bytes / t.rows]));
      const perMachine = per.machines! + per.licenses! / MACHINES_PER_LICENSE;
      const perEvent = per.events!;
      const perDelivery = per.webhook_messages! + per.webhook_attempts!;
      const perJob = jobBytes / JOBS;
      console.log(
        `\nper machine (with 1/${MACHINES_PER_LICENSE} of a license): ${Math.round(perMachine)} B; per event: ${Math.round(perEvent)} B; ` +
          `per delivery (message + one attempt): ${Math.round(perDelivery)} B; per finished job: ${Math.round(perJob)} B`,
      );

      const months = (ms: number | null) => (ms === null ? Number.POSITIVE_INFINITY : ms / DAY_MS / MONTH_DAYS);
      const eventsKept = EVENTS_PER_MACHINE_MONTH * months(DEFAULT_RETENTION.eventsMs);
      const deliveriesKept = EVENTS_PER_MACHINE_MONTH * ENDPOINTS * months(DEFAULT_RETENTION.deliveriesMs);
      const jobsKept = EVENTS_PER_MACHINE_MONTH * ENDPOINTS * months(DEFAULT_RETENTION.jobsMs);
      const monthly = EVENTS_PER_MACHINE_MONTH * (perEvent + ENDPOINTS * (perDelivery + perJob));
      console.log(
        `\nat the defaults, ${EVENTS_PER_MACHINE_MONTH} events per machine a month, ${ENDPOINTS} endpoint(s) receiving every event: ` +
          `${eventsKept.toFixed(1)} events, ${deliveriesKept.toFixed(1)} deliveries and ${jobsKept.toFixed(1)} jobs kept per machine`,
      );
      console.log(
        '\n| machines | machines and licenses | events | deliveries | pg-boss jobs | total | without retention, growth a month |',
      );
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const fleet of [10_000, 1_000_000, 10_000_000]) {
        const parts = [
          fleet * perMachine,
          fleet * eventsKept * perEvent,
          fleet * deliveriesKept * perDelivery,
          fleet * jobsKept * perJob + RELAY_JOBS * perJob,
        ];
        const total = empty + parts.reduce((a, b) => a + b, 0);
        console.log(
          `| ${fleet.toLocaleString('en-US').replace(/,/g, ' ')} | ${parts.map(human).join(' | ')} | ${human(total)} | +${human(fleet * monthly)} |`,
        );
      }
    } finally {
      await db.end();
    }
  } finally {
    await cluster.close();
  }
});
