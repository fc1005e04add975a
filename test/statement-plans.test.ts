import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initOrm, type Orm } from '../src/db/orm.ts';
import { forDriver, type Sql } from '../src/db/sql.ts';
import { openStatementPool } from '../src/db/statement-pool.ts';
import { ENTITIES } from '../src/entities.ts';
import { validationStatement } from '../src/licenses/validation-lookup.ts';
import { createLogger } from '../src/log.ts';
import { heartbeatStatement } from '../src/machines/heartbeat-batch.ts';
import { createDatabase } from './support/harness.ts';

/**
 * The grouped hot-path statements run on connections that plan each of them once
 * (src/db/statement-pool.ts). These tests hold that choice to its two conditions: PostgreSQL left
 * to itself really does plan the validation statement again on every call (the cost the pool
 * removes), and the one plan it then keeps probes indexes on a fleet-sized table whatever the
 * batch size, rather than reading the machines or licenses tables.
 */

const LICENSES = 20_000;
const MACHINES = 40_000;
const log = createLogger('silent');

let orm: Orm;
let statements: pg.Pool;
let licenses: string[];
let machines: { id: string; license_id: string }[];

beforeAll(async () => {
  orm = await initOrm({ clientUrl: await createDatabase(), entities: ENTITIES, log });
  statements = openStatementPool(orm, log);
  const db = await orm.em.getConnection().getNativeClient();
  const now = new Date('2026-03-01T14:00:00.000Z');
  const policy = randomUUID();
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                           heartbeat_cull_strategy, heartbeat_resurrection_window)
     values ($1, 'plans', 'PLN', $2, $2, true, 600, 'DEACTIVATE_DEAD', 0)`,
    [policy, now],
  );
  const { rows } = await db.query<{ id: string }>(
    `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at)
     select gen_random_uuid(), $1, sha256(('plans-' || i)::bytea), 'PLN-…', $2, $2 from generate_series(1, $3::int) i returning id`,
    [policy, now, LICENSES],
  );
  licenses = rows.map((r) => r.id);
  await db.query(
    `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
     select gen_random_uuid(), ($1::uuid[])[1 + i % $2::int], 'fp-' || i, '{}', $3, $3, $3 from generate_series(1, $4::int) i`,
    [licenses, LICENSES, now, MACHINES],
  );
  await db.query('analyze');
  machines = (await db.query<{ id: string; license_id: string }>('select id, license_id from machines limit 50')).rows;
}, 60_000);

afterAll(async () => {
  await statements?.end();
  await orm?.close();
});

const validations = (n: number): Sql =>
  validationStatement(
    Array.from({ length: n }, (_, i) => ({
      licenseId: machines[i]!.license_id,
      fingerprints: [`fp-${i}`, `fp-${i + 1}`],
      now: new Date(),
    })),
  );
const beats = (n: number): Sql =>
  heartbeatStatement(
    Array.from({ length: n }, (_, i) => ({ id: machines[i]!.id, licenseId: machines[i]!.license_id, now: new Date() })),
  );

/** Runs a named statement `times` times on one connection; how that session planned it. */
async function planCounts(pool: pg.Pool, name: string, statement: (call: number) => Sql, times: number) {
  const client = await pool.connect();
  try {
    for (let call = 0; call < times; call++) {
      const { text, values } = forDriver(statement(call));
      await client.query({ name, text, values });
    }
    const { rows } = await client.query<{ generic_plans: string; custom_plans: string }>(
      'select generic_plans, custom_plans from pg_prepared_statements where name = $1',
      [name],
    );
    return { generic: Number(rows[0]!.generic_plans), custom: Number(rows[0]!.custom_plans) };
  } finally {
    client.release(true);
  }
}

describe('the validation statement', () => {
  it('is planned again on every call by a default connection, for batches of a few', async () => {
    const db = await orm.em.getConnection().getNativeClient();
    const counts = await planCounts(db, 'plans_default', (call) => validations(1 + (call % 3)), 12);
    expect(counts).toEqual({ generic: 0, custom: 12 });
  });

  it('is planned once on the statement pool', async () => {
    const counts = await planCounts(statements, 'plans_generic', (call) => validations(1 + (call % 3)), 12);
    expect(counts).toEqual({ generic: 12, custom: 0 });
  });
});

describe('the generic plans probe indexes', () => {
  const shapes: [string, () => Sql][] = [
    ['the validation statement', () => validations(3)],
    ['the heartbeat statement', () => beats(3)],
  ];
  for (const [name, statement] of shapes) {
    it(`${name} reads neither machines nor licenses whole`, async () => {
      const client = await statements.connect();
      try {
        const { text } = forDriver(statement());
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (generic_plan) ${text}`);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/Index (Only )?Scan using \S+ on machines/);
        expect(plan).not.toMatch(/Seq Scan on (machines|licenses)\b/);
      } finally {
        client.release();
      }
    });
  }
});
