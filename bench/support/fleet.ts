/**
 * The fleet bench/hot and bench/scale measure: policies, licenses and machines seeded in SQL with
 * `generate_series`, and the requests each bench sends against it.
 *
 * Machines are bulk-loaded: the machines table's secondary indexes are dropped and built again
 * after the insert, and the insert runs with triggers and foreign-key checks off where the
 * database lets us (a superuser's `session_replication_role`). The rows, counts and indexes are
 * those the app would have made; only the way there is the one a bulk load takes, so ten million
 * machines seed in minutes rather than the better part of an hour.
 */
import type pg from 'pg';
import { uuidv7 } from '../../src/core/ids.ts';
import { apiTokenHint, generateApiToken } from '../../src/keys/api-token.ts';
import type { KeyHasher } from '../../src/keys/hashing.ts';
import { generateLicenseKey } from '../../src/keys/license-key.ts';
import type { PlannedRequest } from '../hot/load.ts';
import { uuidv7Sql } from './cluster.ts';

export interface FleetOptions {
  /** Machines shared round-robin by the fleet licenses (dead ones included). */
  machines: number;
  /** Fleet licenses: the ones heartbeats and activations go to. */
  licenses: number;
  /** Machines of the one big license, for validate-big (0: an empty license). */
  bigLicense: number;
  /** One machine in this many is dead (its own KEEP_DEAD license), spread over the whole table. */
  deadEvery: number;
  /**
   * The fleet policy's heartbeat duration in seconds. Live machines beat at seeding time, so a
   * run longer than this would find every machine dead by its end.
   */
  heartbeatDuration?: number;
}

export interface Seeded {
  /** (machine, key) pairs to beat: 10 per license, spread over the table. */
  beats: { id: string; key: string }[];
  /** A process on each machine of `beats`, with its license's key. */
  processBeats: { id: string; key: string }[];
  /** (key, fingerprint) of 5-machine licenses. */
  small: { key: string; fingerprint: string }[];
  /**
   * (key, fingerprint) of 5-machine licenses like `small`'s, under a policy of a product with
   * three entitlements: what validate-scoped asks for.
   */
  scoped: { key: string; fingerprint: string }[];
  big: { key: string; fingerprint: string };
  /** Keys of licenses with no machine limit, to activate under. */
  activate: string[];
  adminToken: string;
  /** The KEEP_DEAD policy the dead machines are under. */
  graveyardPolicyId: string;
  /** Machines seeded in all, and how many of them dead. */
  machines: number;
  dead: number;
}

/** Dead machines are ones with `i % deadEvery = 0` among 1..machines. */
export const deadCount = (o: FleetOptions) => Math.floor(o.machines / o.deadEvery);

export async function seedFleet(db: pg.Client, hasher: KeyHasher, options: FleetOptions): Promise<Seeded> {
  const { machines, licenses, bigLicense, deadEvery } = options;
  const now = new Date();
  // For this session's index builds and the count's aggregate; the server's own settings stay.
  await db.query(`set maintenance_work_mem = '1GB'`);
  await db.query(`set work_mem = '256MB'`);
  // A crash mid-seed loses a throw-away database: no need to wait for the WAL on each commit.
  await db.query('set synchronous_commit = off');
  const [open, graveyard] = [uuidv7(), uuidv7()];
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, require_heartbeat, heartbeat_duration,
                           heartbeat_cull_strategy, heartbeat_resurrection_window)
     values ($1, 'bench', 'BENCH', $3, $3, true, $4, 'DEACTIVATE_DEAD', 0),
            ($2, 'bench graveyard', 'BENCH', $3, $3, true, 600, 'KEEP_DEAD', 0)`,
    [open, graveyard, now, options.heartbeatDuration ?? 600],
  );
  const license = async (policy: string) => {
    const key = generateLicenseKey('BENCH');
    const id = uuidv7();
    await db.query(
      `insert into licenses (id, policy_id, key_hash, key_hint, created_at, updated_at) values ($1, $2, $3, 'BENCH-…', $4, $4)`,
      [id, policy, hasher.hash('license-key', key), now],
    );
    return { id, key };
  };
  const fleet = [];
  for (let i = 0; i < licenses; i++) fleet.push(await license(open));
  const dead = await license(graveyard);
  const big = await license(open);
  const small = [];
  for (let i = 0; i < 100; i++) small.push(await license(open));
  // A product's policy with three entitlements, for validations that scope by both.
  const [product, scopedPolicy] = [uuidv7(), uuidv7()];
  await db.query(
    `insert into products (id, name, code, metadata, created_at, updated_at) values ($1, 'Bench', $2, '{}', $3, $3)`,
    [product, SCOPED_PRODUCT, now],
  );
  await db.query(
    `insert into policies (id, name, key_prefix, created_at, updated_at, product_id) values ($1, 'bench scoped', 'BENCH', $2, $2, $3)`,
    [scopedPolicy, now, product],
  );
  await db.query(
    `with e as (
       insert into entitlements (id, code, name, created_at, updated_at)
       select gen_random_uuid(), code, code, $2, $2 from unnest($3::text[]) code returning id)
     insert into policy_entitlements (policy_id, entitlement_id, created_at) select $1, id, $2 from e`,
    [scopedPolicy, now, SCOPED_ENTITLEMENTS],
  );
  const scoped = [];
  for (let i = 0; i < 100; i++) scoped.push(await license(scopedPolicy));

  // The secondary indexes are built once over the loaded table: a sort each, instead of ten
  // million inserts into random leaf pages (the fingerprints' text order is not the insert order).
  const { rows: indexes } = await db.query<{ name: string; definition: string }>(
    `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
       from pg_index i
      where i.indrelid = 'machines'::regclass
        and not exists (select from pg_constraint c where c.conindid = i.indexrelid)`,
  );
  for (const index of indexes) await db.query(`drop index ${index.name}`);
  // Off, the count trigger writes no delta per machine and foreign keys are not checked row by
  // row: the counts are set below, and every license id comes from the rows just inserted.
  // Only a superuser may; for anyone else the insert just takes longer.
  const replica = await db.query(`set session_replication_role = replica`).then(
    () => true,
    () => false,
  );

  // Machine i: every deadEvery-th the graveyard's (last heartbeat two hours ago: dead), the
  // others license i mod L's, alive; all with time-ordered ids, so each kind is spread over the heap.
  const fleetIds = fleet.map((l) => l.id);
  await db.query(
    `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
     select ${uuidv7Sql(`$3::bigint - $2::int + i`, "'machine' || i")},
            case when i % $5 = 0 then $6::uuid else ($1::uuid[])[1 + i % array_length($1::uuid[], 1)] end,
            'fingerprint-' || i, '{}',
            case when i % $5 = 0 then $4::timestamptz - interval '2 hours' else $4::timestamptz end, $4, $4
       from generate_series(1, $2::int) i`,
    [fleetIds, machines, now.getTime() - bigLicense - 1000, now, deadEvery, dead.id],
  );
  await db.query(
    `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
     select ${uuidv7Sql(`$3::bigint + i`, "'big' || i")}, $1, 'big-' || i, '{}', $4, $4, $4 from generate_series(1, $2::int) i`,
    [big.id, bigLicense, now.getTime() - bigLicense - 500, now],
  );
  await db.query(
    `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
     select gen_random_uuid(), l, 'small-machine-' || j, '{}', $2, $2, $2 from unnest($1::uuid[]) l, generate_series(1, 5) j`,
    [[...small, ...scoped].map((l) => l.id), now],
  );
  if (replica) await db.query('reset session_replication_role');
  for (const index of indexes) await db.query(index.definition);
  // The counts, as the culling pass would have folded them: one scan, whatever the fleet's size.
  await db.query(
    `update licenses l set machine_count = c.machines, core_count = c.cores
       from (select license_id, count(*) as machines, sum(coalesce(cores, 1)) as cores
               from machines where deleted_at is null group by license_id) c
      where c.license_id = l.id`,
  );
  await db.query(`delete from machine_count_deltas`);
  const adminToken = generateApiToken();
  await db.query(
    `insert into api_keys (id, name, token_hash, token_hint, scopes, created_at) values ($1, 'bench', $2, $3, '{admin}', $4)`,
    [uuidv7(), hasher.hash('api-key', adminToken), apiTokenHint(adminToken), now],
  );
  // Statistics for realistic plans, and hint bits and the visibility map set once here rather
  // than by the first requests of a measured run.
  await db.query('vacuum (analyze)');

  const { rows } = await db.query<{ id: string; license_id: string }>(
    `select id, license_id from (
       select id, license_id, row_number() over (partition by license_id order by id) as n from machines where license_id = any($1::uuid[])
     ) m where n % $2 = 0 and n / $2 <= 10 order by id`,
    [fleetIds, Math.max(1, Math.floor(machines / licenses / 10))],
  );
  const keyOf = new Map(fleet.map((l) => [l.id, l.key]));
  // A process on each machine that heartbeats: process heartbeats go to as many rows of as many
  // licenses as machine heartbeats do.
  const { rows: processes } = await db.query<{ id: string; license_id: string }>(
    `insert into processes (id, machine_id, license_id, metadata, last_heartbeat_at, created_at)
     select gen_random_uuid(), id, license_id, '{}', $2, $2 from machines where id = any($1::uuid[])
     returning id, license_id`,
    [rows.map((row) => row.id), now],
  );
  return {
    beats: rows.map((row) => ({ id: row.id, key: keyOf.get(row.license_id)! })),
    processBeats: processes.map((row) => ({ id: row.id, key: keyOf.get(row.license_id)! })),
    small: small.map((l) => ({ key: l.key, fingerprint: 'small-machine-3' })),
    scoped: scoped.map((l) => ({ key: l.key, fingerprint: 'small-machine-3' })),
    big: { key: big.key, fingerprint: `big-${Math.ceil(bigLicense / 2)}` },
    activate: fleet.map((l) => l.key),
    adminToken,
    graveyardPolicyId: graveyard,
    machines: machines + bigLicense + 1000,
    dead: deadCount(options),
  };
}

const license = (key: string) => ({ authorization: `License ${key}` });

/** A validation with a fingerprint for each license. */
const validations = (licenses: { key: string; fingerprint: string }[]): PlannedRequest[] =>
  licenses.map((v) => ({
    method: 'POST',
    path: '/api/v1/licenses/actions/validate',
    headers: license(v.key),
    body: JSON.stringify({ fingerprint: v.fingerprint }),
  }));

/** What a client sends to get a signed answer (RFC 9421 §5.1). */
export const ACCEPT_SIGNATURE = { 'accept-signature': 'sig1=("@status" "content-digest");alg="ed25519"' };

export type FleetBench =
  | 'heartbeat'
  | 'process-heartbeat'
  | 'validate'
  | 'validate-big'
  | 'validate-signed'
  | 'validate-scoped'
  | 'validate-entitled'
  | 'activate'
  | 'list';

const SCOPED_PRODUCT = 'BENCH_PRODUCT';
const SCOPED_ENTITLEMENTS = ['BENCH_EXPORT', 'BENCH_SYNC', 'BENCH_TEAMS'];

export function requestsOf(bench: FleetBench, s: Seeded): PlannedRequest[] {
  switch (bench) {
    case 'heartbeat':
      return s.beats.map((b) => ({
        method: 'POST',
        path: `/api/v1/machines/${b.id}/heartbeat`,
        headers: license(b.key),
      }));
    case 'process-heartbeat':
      return s.processBeats.map((b) => ({
        method: 'POST',
        path: `/api/v1/processes/${b.id}/heartbeat`,
        headers: license(b.key),
      }));
    case 'validate':
      return validations(s.small);
    case 'validate-signed':
      return requestsOf('validate', s).map((r) => ({ ...r, headers: { ...r.headers, ...ACCEPT_SIGNATURE } }));
    case 'validate-scoped':
      // Scoped by product and by two of the three entitlements the policy grants: a VALID answer.
      return s.scoped.map((v) => ({
        method: 'POST',
        path: '/api/v1/licenses/actions/validate',
        headers: license(v.key),
        body: JSON.stringify({
          fingerprint: v.fingerprint,
          product: SCOPED_PRODUCT,
          entitlements: SCOPED_ENTITLEMENTS.slice(0, 2),
        }),
      }));
    case 'validate-entitled':
      // validate-scoped's licenses without the scope: what the scope itself costs, apart from
      // the entitlements every answer of these licenses lists.
      return validations(s.scoped);
    case 'validate-big':
      return [
        {
          method: 'POST',
          path: '/api/v1/licenses/actions/validate',
          headers: license(s.big.key),
          body: JSON.stringify({ fingerprint: s.big.fingerprint }),
        },
      ];
    case 'activate':
      return s.activate.map((key) => ({
        method: 'POST',
        path: '/api/v1/machines',
        headers: license(key),
        body: JSON.stringify({ fingerprint: 'bench-{n}', name: 'bench' }),
      }));
    case 'list':
      return [
        { method: 'GET', path: '/api/v1/machines?limit=100', headers: { authorization: `Bearer ${s.adminToken}` } },
      ];
  }
}

/** The first page of dead machines, one request at a time: what an operator's dashboard waits for. */
export async function deadFilter(
  url: string,
  adminToken: string,
): Promise<{ median: number; p90: number; count: number; times: number[] }> {
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < 23; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/api/v1/machines?heartbeatStatus=DEAD&limit=100`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const body = (await response.json()) as { data: unknown[] };
    if (response.status !== 200) throw new Error(`dead filter: ${response.status} ${JSON.stringify(body)}`);
    count = body.data.length;
    if (i >= 3) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, p90: times[Math.floor(times.length * 0.9)]!, count, times };
}
