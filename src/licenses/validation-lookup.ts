import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { GroupStatement } from '../db/group-statement.ts';
import { arrayLiteral, execute, forDriver, type Sql, sql } from '../db/sql.ts';
import { coreCountSql, machineCountSql } from '../machines/machine-count.ts';
import { type MachineRecordRow, machineRecordColumns } from '../machines/machine-record.ts';
import type { OverageStrategy } from '../policies/limits.ts';
import type { ExpirationBasis, ExpirationStrategy } from '../policies/policy.entity.ts';

/**
 * What a validation reads: the license's machine limit and count, its policy and that policy's
 * product (for the scopes), and the fingerprint's machine.
 */
export interface ValidationQuery {
  licenseId: string;
  fingerprint: string | null;
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
};

/**
 * Any number of validations' reads, one statement: per query, in order, the policy's machine and
 * core limits, overage strategy and expiry rules, the policy's product, the license's machine and
 * core counts and whether its expiry waits for a first validation, and the active machine with
 * that fingerprint (if any).
 */
export function validationStatement(queries: ValidationQuery[]): Sql {
  return sql`
  select i.n, p.max_machines, ${machineCountSql('l')} as machine_count,
         p.max_cores, p.overage_strategy, ${coreCountSql('l')} as core_count,
         p.id as policy_id, p.product_id, pr.code as product_code,
         p.expiration_strategy, l.expires_at as license_expires_at, l.expiry_pending, p.duration as policy_duration,
         p.expiration_basis,
         ${machineRecordColumns('m', 'p')}
    from unnest(${arrayLiteral(queries.map((q) => q.licenseId))}::uuid[], ${arrayLiteral(queries.map((q) => q.fingerprint))}::text[])
         with ordinality as i(license_id, fingerprint, n)
    join licenses l on l.id = i.license_id
    join policies p on p.id = l.policy_id
    left join products pr on pr.id = p.product_id
    left join machines m on m.license_id = l.id and m.fingerprint = i.fingerprint and m.deleted_at is null`;
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
 * prepared once per connection (the text never changes; the inputs are two array parameters).
 */
export class ValidationLookups {
  readonly #group: GroupStatement<ValidationQuery, ValidationRow>;

  constructor(pool: Pool, options: { maxBatch?: number } = {}) {
    this.#group = new GroupStatement(
      async (queries) => {
        const { text, values } = forDriver(validationStatement(queries));
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
