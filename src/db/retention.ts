import type { EntityManager } from './orm.ts';
import { execute, sql } from './sql.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** How long each kind of history is kept; null keeps it forever. */
export interface Retention {
  /** The log of events (`GET /events`), by `occurred_at`. */
  eventsMs: number | null;
  /** Webhook messages and their delivery attempts, from a message's last attempt. */
  deliveriesMs: number | null;
  /** pg-boss's finished jobs (completed, failed, cancelled), which pg-boss deletes itself. */
  jobsMs: number | null;
}

/**
 * Ninety days of events is a quarter to answer "what happened to this machine" in; a month of
 * deliveries outlasts the day and a half of retries by far, and is what Svix and Stripe keep.
 */
export const DEFAULT_RETENTION: Retention = { eventsMs: 90 * DAY_MS, deliveriesMs: 30 * DAY_MS, jobsMs: 30 * DAY_MS };

export interface TrimOptions {
  /** Rows one statement deletes at most: each batch is its own short transaction. */
  batchSize: number;
  /** How long one trim may go on (ms): what is left waits for the next worker pass. */
  budgetMs: number;
  /** Milliseconds of a monotonic clock, for the budget: how long the work takes, not the tests' time. */
  elapsed?: () => number;
  /** The process is stopping: no further batch starts, so a shutdown does not wait for the budget. */
  signal?: AbortSignal;
}

/** Small enough that a batch takes milliseconds and holds few row locks; the worker runs every minute. */
export const DEFAULT_TRIM_OPTIONS: TrimOptions = { batchSize: 1000, budgetMs: 10_000 };

export interface TrimResult {
  events: number;
  deliveries: number;
  /** Delivery attempts deleted with their messages. */
  attempts: number;
  /** Statements run. */
  batches: number;
  /** False when the budget ran out, or the process began to stop, before every old row was looked at. */
  complete: boolean;
}

interface Cursor {
  at: Date;
  id: string;
}

/**
 * Deletes the events and webhook deliveries older than their retention, oldest first, in batches.
 *
 * Each batch walks the next `batchSize` rows of the time index after the previous batch's last
 * one, whatever becomes of them, and deletes those that may go. A row that must stay (an event a
 * delivery still refers to, a message still being delivered) is thus read once per trim, not once
 * per batch, and a batch never waits for a row another transaction holds (SKIP LOCKED: the next
 * trim takes it). Only `events`, `webhook_messages` and `webhook_attempts` are read and written;
 * the foreign keys from events to machines and licenses need nothing from those tables on delete.
 */
export async function trimHistory(
  em: () => EntityManager,
  now: Date,
  retention: Retention,
  options: TrimOptions = DEFAULT_TRIM_OPTIONS,
): Promise<TrimResult> {
  const elapsed = options.elapsed ?? (() => performance.now());
  const deadline = elapsed() + options.budgetMs;
  const result: TrimResult = { events: 0, deliveries: 0, attempts: 0, batches: 0, complete: true };

  // Deliveries first: an event stays while a delivery of it does, so trimming them frees events.
  for (const [cutoffMs, batch] of [
    [retention.deliveriesMs, deliveriesBatch],
    [retention.eventsMs, eventsBatch],
  ] as const) {
    if (cutoffMs === null) continue;
    const cutoff = new Date(now.getTime() - cutoffMs);
    let after: Cursor | undefined;
    for (;;) {
      if (elapsed() >= deadline || options.signal?.aborted) {
        result.complete = false;
        return result;
      }
      const [row] = await execute<BatchRow[]>(em(), batch(cutoff, after, options.batchSize));
      result.batches += 1;
      result.events += row!.events ?? 0;
      result.deliveries += row!.messages ?? 0;
      result.attempts += row!.attempts ?? 0;
      if (row!.walked < options.batchSize) break;
      after = { at: new Date(row!.last_at!), id: row!.last_id! };
    }
  }
  return result;
}

interface BatchRow {
  walked: number;
  events?: number;
  messages?: number;
  attempts?: number;
  last_at: string | null;
  last_id: string | null;
}

/**
 * Events before `cutoff`. An event stays while the relay has not fanned it out yet (it is the
 * relay's queue) and while a webhook message of it remains (its foreign key, and the delivery's
 * link to what it was about).
 */
function eventsBatch(cutoff: Date, after: Cursor | undefined, limit: number) {
  const from = after ? sql`and (occurred_at, id) > (${after.at}, ${after.id}::bigint)` : sql``;
  return sql`
    with walked as (
      select id, occurred_at from events
       where occurred_at < ${cutoff} ${from}
       order by occurred_at, id
       limit ${limit}
       for update skip locked
    ), gone as (
      delete from events e using walked w
       where e.id = w.id and e.relayed_at is not null
         and not exists (select 1 from webhook_messages m where m.event_id = e.id)
      returning 1
    ), last as (
      select occurred_at, id from walked order by occurred_at desc, id desc limit 1
    )
    select (select count(*) from walked)::int as walked, (select count(*) from gone)::int as events,
           (select occurred_at from last) as last_at, (select id::text from last) as last_id`;
}

/**
 * Webhook messages created, last queued and last attempted before `cutoff`, and their attempts.
 * A message stays while it may still be sent: wanted (waiting for the relay), never attempted, or
 * its last attempt planning a retry — unless its endpoint is disabled or deleted, when the
 * delivery job skips it. A redelivery is queued (`queued_at`) and then attempted, and either
 * keeps the message another term.
 */
function deliveriesBatch(cutoff: Date, after: Cursor | undefined, limit: number) {
  const from = after ? sql`and (created_at, id) > (${after.at}, ${after.id}::uuid)` : sql``;
  return sql`
    with walked as (
      select id, created_at from webhook_messages
       where created_at < ${cutoff} ${from}
       order by created_at, id
       limit ${limit}
       for update skip locked
    ), done as (
      select m.id from webhook_messages m join walked w on w.id = m.id
       where m.wanted_at is null and coalesce(m.queued_at, m.created_at) < ${cutoff}
         and not exists (select 1 from webhook_attempts a where a.message_id = m.id and a.attempted_at >= ${cutoff})
         and (
           not exists (select 1 from webhook_endpoints e where e.id = m.endpoint_id and e.enabled and e.deleted_at is null)
           or exists (select 1 from webhook_attempts a where a.message_id = m.id and a.attempt = m.attempts and a.next_attempt_at is null)
         )
    ), attempts as (
      delete from webhook_attempts a using done d where a.message_id = d.id returning 1
    ), messages as (
      delete from webhook_messages m using done d where m.id = d.id returning 1
    ), last as (
      select created_at, id from walked order by created_at desc, id desc limit 1
    )
    select (select count(*) from walked)::int as walked, (select count(*) from messages)::int as messages,
           (select count(*) from attempts)::int as attempts,
           (select created_at from last) as last_at, (select id::text from last) as last_id`;
}
