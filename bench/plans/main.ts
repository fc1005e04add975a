/**
 * bench/plans: what planning costs the grouped hot-path statements. The validation read and the
 * heartbeat write run as named prepared statements, one after another on one connection, in
 * batches of 1, 3 and 10 (a server under load groups a few at a time), once on a default
 * connection (PostgreSQL chooses: it plans the statement again for every call) and once with
 * `plan_cache_mode=force_generic_plan` (the statement pool's setting: one plan, reused), in
 * alternating blocks. It reports milliseconds per statement and how the session planned them.
 *
 *   make bench-plans
 *   BENCH_CALLS=600 make bench-plans     # a quicker run
 */
import pg from 'pg';
import { forDriver, type Sql } from '../../src/db/sql.ts';
import { validationStatement } from '../../src/licenses/validation-lookup.ts';
import { heartbeatStatement } from '../../src/machines/heartbeat-batch.ts';
import {
  DATABASE_PREFIX,
  describeHost,
  envInteger,
  loadAverage,
  migrateDatabase,
  openCluster,
  run,
} from '../support/cluster.ts';

const CALLS = envInteger('BENCH_CALLS', 3000);
const BLOCKS = 6;
const LICENSES = 20_000;
const MACHINES = 100_000;

type Variant = 'default' | 'generic';

async function main(): Promise<void> {
  const cluster = await openCluster();
  try {
    console.log(`bench/plans  ${new Date().toISOString()}`);
    console.log(`host: ${await describeHost()}; load average at start: ${loadAverage()}`);
    const url = await cluster.createDatabase(`${DATABASE_PREFIX}plans`);
    await migrateDatabase(url);
    const connect = async (variant: Variant) => {
      const client = new pg.Client({
        connectionString: url,
        ...(variant === 'generic' ? { options: '-c plan_cache_mode=force_generic_plan' } : {}),
      });
      await client.connect();
      return client;
    };
    const seed = await connect('default');
    const now = new Date();
    const { rows: policies } = await seed.query<{ id: string }>(
      `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                             heartbeat_cull_strategy, heartbeat_resurrection_window)
       values (gen_random_uuid(), 'plans', 'PLN', $1, $1, true, 3600, 'DEACTIVATE_DEAD', 0) returning id`,
      [now],
    );
    const { rows: licenses } = await seed.query<{ id: string }>(
      `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at)
       select gen_random_uuid(), $1, sha256(('plans-' || i)::bytea), 'PLN-…', $2, $2
         from generate_series(1, $3::int) i returning id`,
      [policies[0]!.id, now, LICENSES],
    );
    await seed.query(
      `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
       select gen_random_uuid(), ($1::uuid[])[1 + i % $2::int], 'fp-' || i, '{}', $3, $3, $3
         from generate_series(1, $4::int) i`,
      [licenses.map((l) => l.id), LICENSES, now, MACHINES],
    );
    await seed.query(
      `update licenses l set machine_count = (select count(*) from machines m where m.license_id = l.id)`,
    );
    await seed.query('delete from machine_count_deltas');
    await seed.query('vacuum (analyze)');
    const { rows: machines } = await seed.query<{ id: string; license_id: string; fingerprint: string }>(
      'select id, license_id, fingerprint from machines order by random() limit 1000',
    );
    await seed.end();
    console.log(`${MACHINES} machines over ${LICENSES} licenses; ${CALLS} calls per variant and batch size`);

    const pick = (call: number, j: number) => machines[(call * 13 + j * 7) % machines.length]!;
    const statements: Record<string, (batch: number, call: number) => Sql> = {
      validation: (batch, call) =>
        validationStatement(
          Array.from({ length: batch }, (_, j) => {
            const m = pick(call, j);
            return { licenseId: m.license_id, fingerprints: [m.fingerprint], now: new Date() };
          }),
        ),
      heartbeat: (batch, call) =>
        heartbeatStatement(
          Array.from({ length: batch }, (_, j) => {
            const m = pick(call, j);
            return { id: m.id, licenseId: m.license_id, now: new Date() };
          }),
        ),
    };
    for (const [name, statement] of Object.entries(statements)) {
      for (const batch of [1, 3, 10]) {
        const clients = { default: await connect('default'), generic: await connect('generic') };
        const ms: Record<Variant, number[]> = { default: [], generic: [] };
        for (let block = 0; block < BLOCKS; block++) {
          const order: Variant[] = block % 2 === 0 ? ['default', 'generic'] : ['generic', 'default'];
          for (const variant of order) {
            const perBlock = Math.ceil(CALLS / BLOCKS);
            const started = performance.now();
            for (let i = 0; i < perBlock; i++) {
              const { text, values } = forDriver(statement(batch, block * perBlock + i));
              await clients[variant].query({ name: `bench_${name}`, text, values });
            }
            ms[variant].push((performance.now() - started) / perBlock);
          }
        }
        const plans: Record<Variant, string> = { default: '', generic: '' };
        for (const variant of ['default', 'generic'] as const) {
          const { rows } = await clients[variant].query<{ generic_plans: string; custom_plans: string }>(
            'select generic_plans, custom_plans from pg_prepared_statements where name = $1',
            [`bench_${name}`],
          );
          plans[variant] = `${rows[0]!.custom_plans} custom / ${rows[0]!.generic_plans} generic plans`;
          await clients[variant].end();
        }
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const [d, g] = [mean(ms.default), mean(ms.generic)];
        console.log(
          `${name}, batch ${batch}: default ${d.toFixed(3)} ms (${plans.default}), ` +
            `generic ${g.toFixed(3)} ms (${plans.generic}); generic / default ${(g / d).toFixed(2)}×  ` +
            `[blocks: ${ms.default.map((x) => x.toFixed(2)).join(' ')} | ${ms.generic.map((x) => x.toFixed(2)).join(' ')}]`,
        );
      }
    }
    console.log(`load average at end: ${loadAverage()}`);
  } finally {
    await cluster.close();
  }
}

run(main);
