/**
 * A license's and a machine's counts of processes, O(1) at any number of them: the column on the
 * row (`licenses.process_count`, `machines.process_count`) plus its rows in
 * `process_count_deltas`, which a trigger on processes writes in the transaction of every spawn and
 * release (the processes migration says why deltas). Only a holder of the license row folds a
 * license's deltas into both columns (a spawn, in its own statement; the worker, below), so two
 * folds never meet. The counts include leases that expired but are not yet released.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, type Sql, sql } from '../db/sql.ts';

/** The count of the license row aliased `l`, as an expression. */
export function licenseProcessCountSql(l: string): Sql {
  return sql.raw(
    `(${l}.process_count + coalesce((select sum(d.delta) from process_count_deltas d where d.license_id = ${l}.id), 0))::int`,
  );
}

/** The count of the machine row aliased `m`, as an expression. */
export function machineProcessCountSql(m: string): Sql {
  return sql.raw(
    `(${m}.process_count + coalesce((select sum(d.delta) from process_count_deltas d where d.machine_id = ${m}.id), 0))::int`,
  );
}

/**
 * The CTEs that take the machine rows with deltas of the licenses `licenses` (a statement over
 * license ids) that are free right now, as `lockable`, and fold only their deltas, as `folded`
 * (license_id, machine_id, delta) and `mach` (id, process_count). A machine another transaction
 * holds (a heartbeat statement, which writes the same rows) keeps its deltas, still counted by the
 * sums above, for the next fold. Waiting for it instead closed cycles: a heartbeat statement holds
 * its machines and waits, in id order, for the next, while a fold held some of them and waited for
 * one of the heartbeat's (40P01 and 500s for the heartbeats under `make bench-scale`; and a spawn
 * holds its own machine before it folds). The caller's own machine is never skipped: SKIP LOCKED
 * passes over other transactions' locks only.
 */
function foldMachinesSql(licenses: string): Sql {
  return sql.raw(`lockable as materialized (
          select m.id from machines m
           where m.id in (select d.machine_id from process_count_deltas d where d.license_id in (${licenses}))
             for no key update skip locked
        ), folded as (
          delete from process_count_deltas d
           where d.license_id in (${licenses}) and d.machine_id in (select id from lockable)
          returning d.license_id, d.machine_id, d.delta
        ), mach as (
          update machines m set process_count = m.process_count + s.delta
            from (select machine_id, sum(delta)::int as delta from folded group by machine_id) s
           where m.id = s.machine_id
          returning m.id, m.process_count
        )`);
}

/**
 * Folds one license's deltas and returns its count and one machine's. The caller holds the license
 * row (`for update`), so no other fold runs; a statement of its own, so it folds every spawn and
 * release committed before the lock was taken.
 */
export async function foldLicenseProcesses(
  em: EntityManager,
  licenseId: string,
  machineId: string,
): Promise<{ license: number; machine: number }> {
  const [row] = await execute<{ license_count: number; machine_count: number }[]>(
    em,
    sql`with license as (select ${licenseId}::uuid as id), ${foldMachinesSql('select id from license')},
        lic as (
          update licenses set process_count = process_count + coalesce((select sum(delta) from folded), 0)::int
           where id = ${licenseId}
          returning process_count
        )
        select (select process_count from lic)
                 -- Deltas of machines held elsewhere, not folded: the statement's snapshot still has every delta.
                 + coalesce((select sum(d.delta) from process_count_deltas d
                              where d.license_id = ${licenseId} and d.machine_id not in (select id from lockable)), 0)::int
                 as license_count,
               -- The statement's snapshot predates its own updates: the machine's new count, if it had deltas.
               coalesce((select process_count from mach where id = ${machineId}),
                        (select process_count from machines where id = ${machineId}))
                 + coalesce((select sum(d.delta) from process_count_deltas d
                              where d.machine_id = ${machineId} and d.machine_id not in (select id from lockable)), 0)::int
                 as machine_count`,
  );
  return { license: row!.license_count, machine: row!.machine_count };
}

/**
 * Folds the deltas of every license whose row is free right now; a license held elsewhere (a
 * spawn, an activation) keeps its deltas for the next fold. Never waits for a license. Returns
 * the licenses folded.
 */
export async function foldProcessCounts(em: EntityManager): Promise<number> {
  const [row] = await execute<{ licenses: number }[]>(
    em,
    sql`with held as materialized (
          select id from licenses where id in (select distinct license_id from process_count_deltas)
             for no key update skip locked
        ), ${foldMachinesSql('select id from held')},
        lic as (
          update licenses l set process_count = l.process_count + f.delta
            from (select license_id, sum(delta)::int as delta from folded group by license_id) f
           where l.id = f.license_id
          returning l.id
        )
        select count(*)::int as licenses from lic`,
  );
  return row!.licenses;
}
