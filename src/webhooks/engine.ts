import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery } from 'kysely';
import { PgBoss, type Db, type Job } from 'pg-boss';
import { systemClock, type Clock } from '../core/clock.ts';
import { uuidv7 } from '../core/ids.ts';
import type { Orm } from '../db/orm.ts';
import { execute, isoTimestampSql, sql } from '../db/sql.ts';
import { recordEvent } from '../events/record.ts';
import type { Logger } from '../log.ts';
import { resolveAllowed, type AddressPolicy } from './address.ts';
import { webhookIdOf } from './endpoints.service.ts';
import { retryDelayMs } from './schedule.ts';
import { signatureHeader } from './signing.ts';

const RELAY = 'webhooks-relay';
const DELIVER = 'webhooks-deliver';
const BATCH = 500;
const EXCERPT_BYTES = 1024;

export interface WebhookEngineOptions {
  databaseUrl: string;
  orm: Orm;
  /** Decides when attempts are due; the tests' clock. */
  clock: Clock;
  /**
   * The `webhook-timestamp` a receiver checks against its own clock to refuse replays, so it is
   * always real time, whatever `clock` says.
   */
  signingClock?: Clock;
  log: Logger;
  policy: AddressPolicy;
  /** Per attempt, connection to response headers: 10 s. */
  timeoutMs?: number;
  /** Consecutive failed attempts after which an endpoint is disabled. */
  failureThreshold?: number;
  random?: () => number;
}

export interface DeliveryJob {
  messageId: string;
  attempt: number;
  /** When the attempt is due, by `clock`. */
  dueAt: string;
}

type Outcome = 'attempted' | 'deferred' | 'skipped';

export interface WebhookEngine {
  /** Creates pg-boss's schema and queues if needed, and starts delivering in the background. */
  start(): Promise<void>;
  /** Stops taking jobs, lets attempts under way finish, and closes the queue's connections. */
  stop(): Promise<void>;
  /**
   * Relays and runs every attempt due by `clock` now, in this call, without the background
   * workers: `worker --once` and the tests use it. Returns how many attempts were made.
   */
  runDue(): Promise<number>;
}

export const DEFAULT_FAILURE_THRESHOLD = 15;

/**
 * Webhook delivery on pg-boss (PostgreSQL-backed jobs, in its own schema on the same database).
 *
 * The relay job fans events out: it claims events not yet relayed (SKIP LOCKED, so several
 * workers share them and none is skipped), writes one message per subscribed endpoint with the
 * exact body every attempt will send, and turns each message that wants an attempt into a
 * delivery job in the same transaction. A delivery job makes one attempt, records it (a unique
 * attempt number per message: an attempt is recorded once), and on failure marks the message
 * wanted again at the next time of the retry schedule. The relay re-queues itself every second
 * (a `short` queue holds at most one waiting relay job, so replicas do not multiply it), and each
 * process sends one a minute to restart the chain should a process die between the two.
 */
export function createWebhookEngine(options: WebhookEngineOptions): WebhookEngine {
  const { orm, clock, log, policy } = options;
  const signingClock = options.signingClock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const threshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
  const random = options.random ?? Math.random;
  // No cron schedules (`schedule: false`): pg-boss's timekeeper would read them every 5 s through
  // cron-parser and luxon, whose Intl calls page in ICU's locale and time-zone data, ~5 MiB of
  // RSS in every process for one per-minute job that a timer does as well (start() below).
  const boss = new PgBoss({ connectionString: options.databaseUrl, max: 4, application_name: 'licentric-webhooks', schedule: false });
  boss.on('error', (error: unknown) => log.error({ err: error }, 'webhook queue error'));
  let started = false;
  let background = false;
  let restarts: NodeJS.Timeout | undefined;

  async function ensureStarted(): Promise<void> {
    if (started) return;
    await boss.start();
    await boss.createQueue(RELAY, { policy: 'short' });
    await boss.createQueue(DELIVER, { expireInSeconds: Math.ceil(timeoutMs / 1000) + 60, retryLimit: 5, retryDelay: 5, retryBackoff: true });
    started = true;
  }

  /** Fans out unrelayed events and queues wanted attempts; true while more may be waiting. */
  async function relayBatch(): Promise<boolean> {
    return orm.em.fork().transactional(async (em) => {
      const now = clock.now();
      const [fanned] = await execute<{ events: number }[]>(
        em,
        sql`with claimed as (
              select id from events where relayed_at is null order by id limit ${BATCH} for update skip locked
            ), marked as (
              update events e set relayed_at = ${now} from claimed c where e.id = c.id
              returning e.id, e.type, e.occurred_at, e.data
            ), fanned as (
              insert into webhook_messages (id, endpoint_id, event_id, type, payload, created_at, wanted_at)
              select gen_random_uuid(), w.id, m.id, m.type,
                     json_build_object('type', m.type, 'timestamp', ${isoTimestampSql(sql.raw('m.occurred_at'))}, 'data', m.data)::text,
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
            update webhook_messages m set wanted_at = null from wanted w where m.id = w.id
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

  async function relay(): Promise<void> {
    while (await relayBatch());
  }

  async function deliver(job: DeliveryJob): Promise<Outcome> {
    const now = clock.now();
    const dueAt = new Date(job.dueAt);
    if (now.getTime() < dueAt.getTime()) {
      // Early by our clock (another process's, or the tests'): put it back for its time.
      await boss.send(DELIVER, job, { startAfter: dueAt });
      return 'deferred';
    }
    const [target] = await execute<
      { payload: string; attempts: number; endpoint_id: string; url: string; secret: string; previous_secret: string | null; previous_secret_expires_at: string | null }[]
    >(
      orm.em.fork(),
      sql`select m.payload, m.attempts, w.id as endpoint_id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at
            from webhook_messages m join webhook_endpoints w on w.id = m.endpoint_id
           where m.id = ${job.messageId} and w.enabled and w.deleted_at is null`,
    );
    // Gone, disabled, or this attempt already made (a job that outlived a crash): nothing to send.
    if (!target || target.attempts >= job.attempt) return 'skipped';

    const secrets = [target.secret];
    if (target.previous_secret && target.previous_secret_expires_at && new Date(target.previous_secret_expires_at) > now) {
      secrets.push(target.previous_secret);
    }
    const webhookId = webhookIdOf(job.messageId);
    const timestamp = Math.floor(signingClock.now().getTime() / 1000);
    const result = await post(target.url, target.payload, {
      'content-type': 'application/json',
      'user-agent': 'Licentric-Webhooks/1',
      'webhook-id': webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, webhookId, timestamp, target.payload),
    });
    const succeeded = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const delay = succeeded ? null : retryDelayMs(job.attempt, random);
    const nextAttemptAt = delay === null ? null : new Date(now.getTime() + delay);

    await orm.em.fork().transactional(async (em) => {
      await execute(
        em,
        sql`insert into webhook_attempts (id, message_id, endpoint_id, attempt, attempted_at, succeeded, status_code, latency_ms, error, response_excerpt, next_attempt_at)
            values (${uuidv7(now.getTime())}, ${job.messageId}, ${target.endpoint_id}, ${job.attempt}, ${now}, ${succeeded},
                    ${result.statusCode}, ${result.latencyMs}, ${result.error}, ${result.excerpt}, ${nextAttemptAt})`,
      );
      await execute(
        em,
        sql`update webhook_messages set attempts = greatest(attempts, ${job.attempt}), wanted_at = coalesce(wanted_at, ${nextAttemptAt}::timestamptz)
             where id = ${job.messageId}`,
      );
      const [endpoint] = await execute<{ consecutive_failures: number; enabled: boolean }[]>(
        em,
        sql`update webhook_endpoints set consecutive_failures = case when ${succeeded} then 0 else consecutive_failures + 1 end
             where id = ${target.endpoint_id} returning consecutive_failures, enabled`,
      );
      if (!succeeded && endpoint!.enabled && endpoint!.consecutive_failures >= threshold) await disable(em, target.endpoint_id, now);
    });
    log.info(
      { webhookId, attempt: job.attempt, endpointId: target.endpoint_id, status: result.statusCode, ms: result.latencyMs, error: result.error },
      `webhook attempt webhook_id=${webhookId} attempt=${job.attempt} status=${result.statusCode ?? 'none'} latency_ms=${result.latencyMs}`,
    );
    return 'attempted';
  }

  /** Too many failures in a row: stop sending, and say so in the log of events. */
  async function disable(em: EntityManager, endpointId: string, now: Date): Promise<void> {
    await execute(
      em,
      sql`update webhook_endpoints set enabled = false, disabled_reason = 'FAILING', updated_at = ${now} where id = ${endpointId}`,
    );
    await recordEvent(em, 'webhook-endpoint.disabled', { webhookEndpoint: endpointId }, now);
    log.warn({ endpointId, failures: threshold }, 'webhook endpoint disabled after consecutive failures');
  }

  /** One POST, never following redirects, to an address checked when it is connected to. */
  async function post(url: string, body: string, headers: Record<string, string>) {
    const started = process.hrtime.bigint();
    const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
    try {
      const target = new URL(url);
      const addresses = await resolveAllowed(target.hostname, policy);
      const pinned = addresses[0]!;
      // The connection goes to the address just checked, not to a second lookup (DNS rebinding).
      const lookup: LookupFunction = (_host, opts, callback) => {
        if ((opts as { all?: boolean }).all) (callback as (e: null, a: typeof addresses) => void)(null, [pinned]);
        else callback(null, pinned.address, pinned.family);
      };
      const client = target.protocol === 'https:' ? https : http;
      return await new Promise<{ statusCode: number | null; latencyMs: number; error: string | null; excerpt: string | null }>((resolve) => {
        const request = client.request(target, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, lookup });
        const timer = setTimeout(() => request.destroy(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
        request.on('response', (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const done = () => {
            clearTimeout(timer);
            const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
            resolve({ statusCode: response.statusCode ?? null, latencyMs: elapsed(), error: null, excerpt });
            response.destroy();
          };
          response.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            size += chunk.length;
            if (size >= EXCERPT_BYTES) done();
          });
          response.on('end', done);
          response.on('error', done);
        });
        request.on('error', (error) => {
          clearTimeout(timer);
          resolve({ statusCode: null, latencyMs: elapsed(), error: error.message, excerpt: null });
        });
        request.end(body);
      });
    } catch (error) {
      return { statusCode: null, latencyMs: elapsed(), error: (error as Error).message, excerpt: null };
    }
  }

  async function run(job: Job<DeliveryJob>): Promise<Outcome> {
    return deliver(job.data);
  }

  return {
    async start() {
      await ensureStarted();
      background = true;
      await boss.work<DeliveryJob>(DELIVER, { pollingIntervalSeconds: 1, localConcurrency: 4 }, async ([job]) => {
        await run(job!);
      });
      await boss.work(RELAY, { pollingIntervalSeconds: 1 }, async () => {
        await relay();
        await boss.send(RELAY, null, { startAfter: 1 });
      });
      // The chain's restart, a minute apart: every process sends its own, and the `short` queue
      // keeps just one of them waiting. The cron schedule earlier versions made for it goes, as
      // nothing reads it any more.
      await boss.unschedule(RELAY);
      restarts = setInterval(() => {
        boss.send(RELAY, null).catch((error: unknown) => log.warn({ err: error }, 'could not queue the webhook relay'));
      }, 60_000).unref();
      await boss.send(RELAY, null);
      log.info('webhook delivery started');
    },

    async stop() {
      clearInterval(restarts);
      if (!started) return;
      await boss.stop({ graceful: true, close: true, timeout: timeoutMs + 5000 });
      started = false;
      if (background) log.info('webhook delivery stopped');
    },

    async runDue() {
      await ensureStarted();
      let attempted = 0;
      for (;;) {
        await relay();
        const jobs = await boss.fetch<DeliveryJob>(DELIVER, { batchSize: 100 });
        if (jobs.length === 0) return attempted;
        let progressed = false;
        for (const job of jobs) {
          try {
            const outcome = await run(job);
            await boss.complete(DELIVER, job.id);
            if (outcome !== 'deferred') progressed = true;
            if (outcome === 'attempted') attempted += 1;
          } catch (error) {
            await boss.fail(DELIVER, job.id, { message: (error as Error).message });
            throw error;
          }
        }
        if (!progressed) return attempted;
      }
    },
  };
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
    executeSql: async (text: string, values: unknown[] = []) => ({ rows: (await transaction.executeQuery(CompiledQuery.raw(text, values))).rows }),
  };
}
