import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { GroupStatement } from '../db/group-statement.ts';
import { arrayLiteral, driverTemplate, execute, type Sql, sql } from '../db/sql.ts';
import { heartbeatSql } from '../machines/heartbeat.ts';
import { coreCountSql, machineCountSql } from '../machines/machine-count.ts';
import { type MachineRecordRow, machineRecordColumns } from '../machines/machine-record.ts';
import { licenseProcessCountSql, machineProcessCountSql } from '../machines/process-count.ts';
import { processLeaseSql } from '../machines/process-lease.ts';
import type { OverageStrategy } from '../policies/limits.ts';
import type {
  ExpirationBasis,
  ExpirationStrategy,
  MachineMatchingStrategy,
  ProcessLeasingStrategy,
} from '../policies/policy.entity.ts';

/**
 * What a validation reads: the license's limits and counts, its expiry rules, its policy and that
 * policy's product (for the scopes), its effective entitlements, and, given fingerprints, how many
 * of them active machines hold and which machine answers.
 */
export interface ValidationQuery {
  licenseId: string;
  /** Distinct fingerprints, in the order given; null: none given. */
  fingerprints: string[] | null;
  /** The validation's instant: which matched machines are alive. */
  now: Date;
}

export type ValidationRow = MachineRecordRow & {
  max_machines: number | null;
  machine_count: number;
  // Limits and overage (issue 18). `core_count` is a bigint, which the driver hands over as a string.
  max_cores: number | null;
  overage_strategy: OverageStrategy;
  core_count: string | number;

  policy_id: string;
  product_id: string | null;
  product_code: string | null;

  expiration_strategy: ExpirationStrategy;
  /** The license's expiry as it is now (the authenticated record may predate a first event's write). */
  license_expires_at: Date | null;
  /** Whether the license's expiry waits for a first event, and the policy's duration and basis to start it. */
  expiry_pending: boolean;
  policy_duration: number | null;
  expiration_basis: ExpirationBasis;

  machine_matching_strategy: MachineMatchingStrategy;
  /** The effective entitlement codes (the policy's and the license's), sorted, each once. */
  entitlements: string[];
  /** How many of the fingerprints active machines of the license hold. */
  fingerprint_matches: number;

  // Processes (issue 20): live ones only, an expired lease never counts.
  max_processes: number | null;
  process_leasing_strategy: ProcessLeasingStrategy;
  license_processes: number;
  /** The answering machine's; null without one. */
  machine_processes: number | null;
};

/**
 * Any number of validations' reads, one statement: per query, in order, the policy's machine and
 * core limits, overage strategy, expiry rules, matching strategy and product, the license's
 * machine and core counts, whether its expiry waits for a first validation, its effective
 * entitlement codes, how many of the fingerprints its active machines hold, and the first of
 * those machines in the order given that is alive at the query's instant (else the first dead
 * one). Each query's fingerprints travel as one array literal in a text array (PostgreSQL arrays
 * must be rectangular), so the statement's text and its three array parameters stay the same
 * whatever the lists hold.
 */
export function validationStatement(queries: ValidationQuery[]): Sql {
  const [licenseIds, fingerprints, instants] = validationInputs(queries);
  return validationStatementOf(licenseIds, fingerprints, instants);
}

/** The statement's three array parameters, as array literals (`validationStatement`). */
function validationInputs(queries: ValidationQuery[]): [string, string, string] {
  const fingerprints = queries.map((q) => (q.fingerprints === null ? null : arrayLiteral(q.fingerprints)));
  return [
    arrayLiteral(queries.map((q) => q.licenseId)),
    arrayLiteral(fingerprints),
    arrayLiteral(queries.map((q) => q.now.toISOString())),
  ];
}

function validationStatementOf(licenseIds: unknown, fingerprints: unknown, instants: unknown): Sql {
  return sql`
  select i.n, p.max_machines, p.machine_matching_strategy, ${machineCountSql('l')} as machine_count,
         p.max_cores, p.overage_strategy, ${coreCountSql('l')} as core_count,
         p.id as policy_id, p.product_id, pr.code as product_code,
         p.expiration_strategy, l.expires_at as license_expires_at, l.expiry_pending, p.duration as policy_duration,
         p.expiration_basis,
         array(select e.code
                 from (select pe.entitlement_id from policy_entitlements pe where pe.policy_id = p.id
                       union
                       select le.entitlement_id from license_entitlements le where le.license_id = l.id) a
                 join entitlements e on e.id = a.entitlement_id
                order by e.code)::text[] as entitlements,
         coalesce(m.matches, 0)::int as fingerprint_matches,
         p.max_processes, p.process_leasing_strategy,
         -- The counts hold every lease; the expired ones, which the worker keeps few, are read by index and taken off.
         (${licenseProcessCountSql('l')}
           - (select count(*) from processes x where x.license_id = l.id and ${processLeaseSql.expired('x', 'p', sql.raw('i.now'))}))::int
           as license_processes,
         case when m.id is not null then
           (${machineProcessCountSql('m')}
             - (select count(*) from processes x where x.machine_id = m.id and ${processLeaseSql.expired('x', 'p', sql.raw('i.now'))}))::int
         end as machine_processes,
         ${machineRecordColumns('m', 'p')}
    from unnest(${licenseIds}::uuid[], ${fingerprints}::text[], ${instants}::timestamptz[])
         with ordinality as i(license_id, fingerprints, now, n)
    join licenses l on l.id = i.license_id
    join policies p on p.id = l.policy_id
    left join products pr on pr.id = p.product_id
    left join lateral (
      -- One index probe per fingerprint (the limit keeps the planner from reading all of a large
      -- license's machines); the window counts the matches before the limit keeps the first.
      select mm.*, count(*) over () as matches
        from unnest(i.fingerprints::text[]) with ordinality as g(fp, ord)
        join lateral (select * from machines x
                       where x.license_id = l.id and x.fingerprint = g.fp and x.deleted_at is null
                       limit 1) mm on true
       order by ${heartbeatSql.status('mm', 'p', sql.raw('i.now'))} = 'DEAD', g.ord
       limit 1) m on true`;
}

function inOrder(queries: ValidationQuery[], rows: (ValidationRow & { n: string | number })[]): ValidationRow[] {
  const byN = new Map(rows.map((row) => [Number(row.n), row]));
  return queries.map((q, i) => {
    const row = byN.get(i + 1);
    // The license authenticated this very request; its row is soft-deleted at most, never gone.
    if (row === undefined) throw new Error(`no license row for ${q.licenseId}`);
    return row;
  });
}

/** One validation's reads, on its own: for units of work outside a server (the CLI, tests). */
export async function lookupValidation(em: EntityManager, query: ValidationQuery): Promise<ValidationRow> {
  return inOrder([query], await execute(em, validationStatement([query])))[0]!;
}

/**
 * Validation reads of concurrent requests, grouped into one statement while another is in flight
 * (group-statement.ts). Validate is the call every installed copy makes at start-up and on a
 * schedule; grouped, N of them cost one round trip and one plan instead of N. The statement is
 * prepared once per connection (the text never changes; the inputs are three array parameters).
 */
export class ValidationLookups {
  readonly #group: GroupStatement<ValidationQuery, ValidationRow>;

  constructor(pool: Pool, options: { maxBatch?: number } = {}) {
    const statement = driverTemplate(validationStatementOf, 3);
    this.#group = new GroupStatement(
      async (queries) => {
        const { text, values } = statement(...validationInputs(queries));
        const { rows } = await pool.query<ValidationRow & { n: string }>({
          name: 'licentric_validation_lookup',
          text,
          values,
        });
        return inOrder(queries, rows);
      },
      { maxBatch: options.maxBatch ?? 200 },
    );
  }

  lookup(query: ValidationQuery): Promise<ValidationRow> {
    return this.#group.submit(query);
  }
}
