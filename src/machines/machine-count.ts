/**
 * A license's count of active machines, O(1) at any fleet size: `licenses.machine_count` plus the
 * license's rows in `machine_count_deltas`, which a trigger on machines writes in the same
 * transaction as every change to a machine's activeness (see the hot-paths migration for why
 * deltas rather than updates of the license row). Folding moves the deltas into the column; only
 * a holder of the license row folds (an activation, in its own statement; the culling pass, with
 * the one below), so two folds never meet.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, type Sql, sql } from '../db/sql.ts';

/**
 * The cores of the license row aliased `l`'s active machines, as an expression (a machine without
 * `cores` counts one); kept by the same deltas, in their `core_delta`. A bigint: read it with
 * `Number`.
 */
export function coreCountSql(l: string): Sql {
  return sql.raw(
    `(${l}.core_count + coalesce((select sum(d.core_delta) from machine_count_deltas d where d.license_id = ${l}.id), 0))::bigint`,
  );
}

/** The count of the license row aliased `l`, as an expression. */
export function machineCountSql(l: string): Sql {
  return sql.raw(
    `(${l}.machine_count + coalesce((select sum(d.delta) from machine_count_deltas d where d.license_id = ${l}.id), 0))::int`,
  );
}

/**
 * Folds the deltas of every license whose row is free right now; a license held elsewhere (an
 * activation, a deletion) keeps its deltas for the next fold. Never waits, so it can run beside
 * any request. Returns the licenses folded.
 */
export async function foldMachineCounts(em: EntityManager): Promise<number> {
  const [row] = await execute<{ licenses: number }[]>(
    em,
    sql`with held as (
          select id from licenses where id in (select distinct license_id from machine_count_deltas)
             for no key update skip locked
        ), folded as (
          delete from machine_count_deltas d using held where d.license_id = held.id returning d.license_id, d.delta, d.core_delta
        ), applied as (
          update licenses l set machine_count = l.machine_count + f.delta, core_count = l.core_count + f.core_delta
            from (select license_id, sum(delta)::int as delta, sum(core_delta)::bigint as core_delta from folded group by license_id) f
           where l.id = f.license_id
          returning l.id
        )
        select count(*)::int as licenses from applied`,
  );
  return row!.licenses;
}
