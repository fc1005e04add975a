import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forDriver, type Sql, sql } from '../src/db/sql.ts';
import { searchIndexedSql, searchWalkSql } from '../src/licenses/licenses.service.ts';
import { reviewQueueCountSql, reviewQueuePageSql, reviewQueueSql } from '../src/machines/machines.service.ts';
import { createDatabase } from './support/harness.ts';

/**
 * The support console's reads stay index reads on fleet-sized tables: license search through the
 * trigram and metadata indexes, and the review queue (a page and its length) through its partial
 * index, never a scan of every license or machine.
 */

const LICENSES = 30_000;
const MACHINES = 60_000;
/** One machine in this many was kept dead. */
const DEAD_EVERY = 50;
const now = new Date('2026-03-01T14:00:00.000Z');

let db: pg.Client;

beforeAll(async () => {
  db = new pg.Client({ connectionString: await createDatabase() });
  await db.connect();
  const policy = randomUUID();
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                           heartbeat_cull_strategy, heartbeat_resurrection_window)
     values ($1, 'plans', 'PLN', $2, $2, true, 600, 'KEEP_DEAD', 0)`,
    [policy, now],
  );
  // Ids in the order of i, as the server's time-ordered ids are: the walk's first 1 000 licenses
  // are customers 1–1 000, never customer 2931. With random ids one run in 30 found it there.
  await db.query(
    `insert into licenses (id, policy_id, key_hash, key_hint, name, metadata, created_at, updated_at)
     select ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1, sha256(('plans-' || i)::bytea), 'PLN-…', 'Customer ' || i,
            json_build_object('email', 'user' || i || '@example.com', 'seats', i % 100), $2, $2
       from generate_series(1, $3::int) i`,
    [policy, now, LICENSES],
  );
  await db.query(
    `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, dead_at, created_at, updated_at)
     select gen_random_uuid(), l.id, 'fp-' || i, '{}', $1::timestamptz - make_interval(secs => i % 5000),
            case when i % $3::int = 0 then $1::timestamptz else null end, $1, $1
       from generate_series(1, $2::int) i
       join (select id, row_number() over () as n from licenses) l on l.n = 1 + i % ${LICENSES}`,
    [now, MACHINES, DEAD_EVERY],
  );
  await db.query('analyze');
}, 120_000);

afterAll(async () => {
  await db?.end();
});

async function plan(statement: Sql): Promise<string> {
  const { text, values } = forDriver(statement);
  const { rows } = await db.query<{ 'QUERY PLAN': string }>(`explain ${text}`, values);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

const live = sql`l.deleted_at is null`;

describe('license search', () => {
  it('tries a walk of at most 1 000 licenses in id order first', async () => {
    const shown = await plan(searchWalkSql(live, 'customer 2931', 26));
    expect(shown).toMatch(/Index Scan using licenses_pkey on licenses/);
    expect(shown).toMatch(/Limit {2}\(cost=\S+ rows=1000 /);
  });

  for (const text of ['customer 2931', 'USER2931@example.com']) {
    it(`then reads the name and metadata indexes for "${text}", not every license`, async () => {
      const shown = await plan(searchIndexedSql(live, text, 26));
      expect(shown).toMatch(/Bitmap Index Scan on licenses_name_trgm_index/);
      expect(shown).toMatch(/Bitmap Index Scan on licenses_metadata_values_index/);
      expect(shown).not.toMatch(/Seq Scan on licenses\b/);
    });
  }

  it('finds what the plans read', async () => {
    for (const statement of [searchWalkSql, searchIndexedSql]) {
      const { text, values } = forDriver(statement(live, 'USER2931@example.com', 26));
      const { rows } = await db.query<{ name: string | null }>(text, values);
      expect(rows.map((r) => r.name).filter((n) => n !== null)).toEqual(
        statement === searchWalkSql ? [] : ['Customer 2931'],
      );
    }
  });
});

describe('the review queue', () => {
  const queue = reviewQueueSql(new Date(now.getTime() + 3_600_000), null);

  it('reads a page in order from its partial index, not every machine', async () => {
    for (const after of [undefined, { deadAt: now, id: randomUUID() }]) {
      const shown = await plan(reviewQueuePageSql(queue, 25, after));
      expect(shown).toMatch(/Index Scan using machines_review_queue_index on machines/);
      expect(shown).not.toMatch(/Seq Scan on machines\b/);
      expect(shown).not.toMatch(/Sort/);
    }
  });

  it('counts the queue from its partial index, not every machine', async () => {
    const shown = await plan(reviewQueueCountSql(queue));
    expect(shown).toMatch(/machines_review_queue_index/);
    expect(shown).not.toMatch(/Seq Scan on machines\b/);
    const { text, values } = forDriver(reviewQueueCountSql(queue));
    const { rows } = await db.query<{ waiting: number }>(text, values);
    expect(rows[0]!.waiting).toBe(Math.floor(MACHINES / DEAD_EVERY));
  });
});
