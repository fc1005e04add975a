import type { EntityManager } from '@mikro-orm/postgresql';
import { type DriverTransaction, execute, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql, WORKER_ACTOR } from '../events/actor.ts';
import type { EventType } from '../events/types.ts';
import type { ExpirationBasis, RenewalBasis } from '../policies/policy.entity.ts';
import { licenseJsonSql } from './events.ts';

/**
 * Writes `license.expired` for every live license whose expiry has passed and was not yet
 * announced, in batches. Each batch claims its licenses (`SKIP LOCKED`, so several workers
 * share the work) and records the announced expiry in the same statement as the event, so an
 * expiry is announced once; a license whose expiry is moved announces the new one when it passes.
 */
export async function announceExpiredLicenses(em: EntityManager, now: Date, batchSize = 1000): Promise<number> {
  let announced = 0;
  for (;;) {
    const [row] = await execute<{ n: number }[]>(
      em,
      sql`with due as (
            select id from licenses
             where deleted_at is null and expires_at <= ${now} and expires_at is distinct from expiry_announced
             order by id limit ${batchSize}
               for no key update skip locked
          ), marked as (
            update licenses l set expiry_announced = l.expires_at from due where l.id = due.id returning l.*
          ), logged as (
            insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
            select ${'license.expired' satisfies EventType}, ${now}, null, l.id, ${actorValuesSql(WORKER_ACTOR)}, json_build_object('license', ${licenseJsonSql('l', now)}) from marked l
            returning 1
          )
          select count(*)::int as n from logged`,
    );
    announced += row!.n;
    if (row!.n < batchSize) return announced;
  }
}

/**
 * Starts the expiry of a license that waits for its first activation or validation (`basis`):
 * `expiresAt` becomes `now` plus its policy's duration, with a `license.updated` event, in one
 * conditional statement. Only a statement that finds the license still pending writes, and the
 * row lock makes any concurrent one wait and then find it started, so the expiry is set once, by
 * the first event to commit. Returns the started license's row, or null when there was nothing
 * to start (started already, or its policy no longer has a duration on this basis). The event is
 * `actor`'s, whose activation or validation started it.
 */
export async function startExpiry(
  em: EntityManager | DriverTransaction,
  licenseId: string,
  basis: Exclude<ExpirationBasis, 'FROM_CREATION'>,
  now: Date,
  actor: Actor | null,
): Promise<Record<string, unknown> | null> {
  const [row] = await execute<Record<string, unknown>[]>(
    em,
    sql`with started as (
          update licenses l set expires_at = ${now}::timestamptz + make_interval(secs => p.duration), expiry_pending = false, updated_at = ${now}
            from policies p
           where l.id = ${licenseId} and l.expiry_pending and p.id = l.policy_id
             and p.duration is not null and p.expiration_basis = ${basis}
          returning l.*
        ), logged as (
          insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
          select ${'license.updated' satisfies EventType}, ${now}, null, s.id, ${actorValuesSql(actor)}, json_build_object('license', ${licenseJsonSql('s', now)}) from started s
        )
        select * from started`,
  );
  return row ?? null;
}

/**
 * The expiry a renewal by `duration` seconds gives, counted as `basis` says. A license without an
 * expiry (it never had one, or waits for its first activation or validation) renews from now.
 */
export function renewedExpiry(expiresAt: Date | null, basis: RenewalBasis, duration: number, now: Date): Date {
  const from =
    expiresAt === null || basis === 'FROM_NOW'
      ? now
      : basis === 'FROM_EXPIRY' || expiresAt.getTime() > now.getTime()
        ? expiresAt
        : now;
  return new Date(from.getTime() + duration * 1000);
}
