import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.ts';
import type { EventType } from '../events/types.ts';
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
               for update skip locked
          ), marked as (
            update licenses l set expiry_announced = l.expires_at from due where l.id = due.id returning l.*
          ), logged as (
            insert into events (type, occurred_at, machine_id, license_id, data)
            select ${'license.expired' satisfies EventType}, ${now}, null, l.id, json_build_object('license', ${licenseJsonSql('l', now)}) from marked l
            returning 1
          )
          select count(*)::int as n from logged`,
    );
    announced += row!.n;
    if (row!.n < batchSize) return announced;
  }
}
