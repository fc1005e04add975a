import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery } from 'kysely';
import type { Db, PgBoss } from 'pg-boss';
import type { Clock } from '../core/clock.ts';
import type { Orm } from '../db/orm.ts';
import { execute, isoTimestampSql, sql } from '../db/sql.ts';
import { actorJsonSql } from '../events/actor.ts';

/** The queue of delivery jobs: one job, one attempt of one message. */
export const DELIVER = 'webhooks-deliver';
const BATCH = 500;

export interface DeliveryJob {
  messageId: string;
  attempt: number;
  /** When the attempt is due, by `clock`. */
  dueAt: string;
}

/**
 * Fans out unrelayed events and queues wanted attempts; true while more may be waiting.
 *
 * It claims events not yet relayed (SKIP LOCKED, so several workers share them and none is
 * skipped), writes one message per subscribed endpoint with the exact body every attempt will
 * send, and turns each message that wants an attempt into a delivery job in the same transaction.
 */
export async function relayBatch(orm: Orm, clock: Clock, boss: PgBoss): Promise<boolean> {
  return orm.em.fork().transactional(async (em) => {
    const now = clock.now();
    const [fanned] = await execute<{ events: number }[]>(
      em,
      sql`with claimed as (
            select id from events where relayed_at is null order by id limit ${BATCH} for update skip locked
          ), marked as (
            update events e set relayed_at = ${now} from claimed c where e.id = c.id
            returning e.id, e.type, e.occurred_at, e.actor_type, e.actor_id, e.data
          ), fanned as (
            insert into webhook_messages (id, endpoint_id, event_id, type, payload, created_at, wanted_at)
            select gen_random_uuid(), w.id, m.id, m.type,
                   json_build_object('type', m.type, 'timestamp', ${isoTimestampSql(sql.raw('m.occurred_at'))}, 'actor', ${actorJsonSql('m')}, 'data', m.data)::text,
                   ${now}, ${now}
              from marked m
              join webhook_endpoints w on w.enabled and w.deleted_at is null and (w.event_types is null or m.type = any(w.event_types))
            returning 1
          )
          select (select count(*) from marked)::int as events, (select count(*) from fanned)::int as messages`,
    );
    const wanted = await execute<{ id: string; attempts: number; wanted_at: string }[]>(
      em,
      sql`with wanted as (
            select id, wanted_at from webhook_messages where wanted_at is not null order by wanted_at limit ${BATCH} for update skip locked
          )
          update webhook_messages m set wanted_at = null, queued_at = ${now} from wanted w where m.id = w.id
          returning m.id, m.attempts, w.wanted_at`,
    );
    if (wanted.length > 0) {
      await boss.insert(
        DELIVER,
        wanted.map((row) => {
          const dueAt = new Date(row.wanted_at);
          const data: DeliveryJob = { messageId: row.id, attempt: row.attempts + 1, dueAt: dueAt.toISOString() };
          return { data, startAfter: dueAt };
        }),
        { db: transactionDb(em) },
      );
    }
    return fanned!.events === BATCH || wanted.length === BATCH;
  });
}

/**
 * pg-boss statements on the connection of a MikroORM transaction, so a job commits with it.
 * They go to the transaction's Kysely handle (MikroORM's own driver, pinned to its version) with
 * their `$n` parameters as they are: MikroORM's `execute` would read `?` placeholders instead.
 */
function transactionDb(em: EntityManager): Db {
  const transaction = em.getTransactionContext<{ executeQuery(query: CompiledQuery): Promise<{ rows: unknown[] }> }>();
  if (!transaction) throw new Error('transactionDb needs an EntityManager inside a transaction');
  return {
    executeSql: async (text: string, values: unknown[] = []) => ({
      rows: (await transaction.executeQuery(CompiledQuery.raw(text, values))).rows,
    }),
  };
}
