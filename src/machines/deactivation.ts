import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, type Sql, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql } from '../events/actor.ts';
import { MACHINE_EVENTS, machineJsonSql, releaseProcessesSql } from './events.ts';
import type { DeactivationReason } from './machine.entity.ts';

export interface DeactivationTarget {
  /** One machine… */
  id?: string;
  /** …and/or every active machine of one license. */
  licenseId?: string;
  /** Only a machine whose license's policy belongs to this product (an API key's limit). */
  productId?: string;
}

/**
 * Deactivates the active machines that match, with a reason, and writes each one's
 * `machine.deactivated` event in the same statement, so there is never a deactivation without
 * its event; the same statement releases their processes (`MACHINE_DEACTIVATED`). `actor`
 * caused them all. Returns the ids deactivated. (The culling worker claims and acts in batches of its
 * own, in src/machines/cull.ts.)
 */
export async function deactivateMachines(
  em: EntityManager,
  target: DeactivationTarget,
  reason: Exclude<DeactivationReason, 'HEARTBEAT_DEAD'>,
  now: Date,
  actor: Actor | null,
): Promise<string[]> {
  const conditions: Sql[] = [];
  if (target.id !== undefined) conditions.push(sql`m.id = ${target.id}`);
  if (target.licenseId !== undefined) conditions.push(sql`m.license_id = ${target.licenseId}`);
  if (conditions.length === 0) throw new Error('deactivateMachines needs a machine or a license');
  const rows = await execute<{ id: string }[]>(
    em,
    // Locked first, in id order, as heartbeat statements lock theirs: a license's machines updated
    // in the scan's order could deadlock with a heartbeat statement holding some of them (40P01;
    // test/heartbeats.test.ts).
    sql`with ordered as materialized (
       select m.id from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id
        where m.deleted_at is null and ${sql.join(conditions, ' and ')}
          ${target.productId !== undefined ? sql`and p.product_id = ${target.productId}` : sql``}
        order by m.id for no key update of m
     ), deactivated as (
       update machines m set deleted_at = ${now}, updated_at = ${now}, deactivation_reason = ${reason}
          from licenses l join policies p on p.id = l.policy_id
        where l.id = m.license_id and m.deleted_at is null and m.id in (select id from ordered)
        returning m.id, m.license_id, ${machineJsonSql('m', 'p', now)} as machine),
     -- Its processes go with it: a deactivated machine runs nothing.
     ${releaseProcessesSql('released', sql`deactivated d`, sql`pr.machine_id = d.id`, 'MACHINE_DEACTIVATED', now, actor)}
     insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
     select ${MACHINE_EVENTS.deactivated}, ${now}, id, license_id, ${actorValuesSql(actor)}, json_build_object('machine', machine, 'reason', ${reason}::text) from deactivated
     returning machine_id as id`,
  );
  return rows.map((row) => row.id);
}
