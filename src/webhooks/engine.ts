import { PgBoss } from 'pg-boss';
import { type Clock, systemClock } from '../core/clock.ts';
import { SecretRing } from '../core/sealing.ts';
import type { Orm } from '../db/orm.ts';
import type { Logger } from '../log.ts';
import type { AddressPolicy } from './address.ts';
import { webhookIdOf } from './attempt-record.ts';
import { attemptTarget, recordAttempt } from './attempts.ts';
import { post } from './post.ts';
import { DELIVER, type DeliveryJob, relayBatch } from './relay.ts';
import { retryDelayMs } from './schedule.ts';
import { signatureHeader } from './signing.ts';

const RELAY = 'webhooks-relay';

export interface WebhookEngineOptions {
  databaseUrl: string;
  orm: Orm;
  /** Decides when attempts are due; the tests' clock. */
  clock: Clock;
  log: Logger;
  policy: AddressPolicy;
  /** The server secret (or its ring during a rotation), which opens the endpoints' signing secrets. */
  secrets: string | SecretRing;
  /** Per attempt, connection to response headers: 10 s. */
  timeoutMs?: number;
  /** Consecutive failed attempts after which an endpoint is disabled. */
  failureThreshold?: number;
  random?: () => number;
  /**
   * How long pg-boss keeps a finished delivery job (completed, failed or cancelled): its own
   * retention (`deleteAfterSeconds`), which its maintenance applies. Null keeps them; undefined
   * leaves pg-boss's default (7 days).
   */
  jobRetentionMs?: number | null;
}

/** Relay jobs carry nothing and there are 86 400 a day: an hour of them shows the chain ran. */
const RELAY_JOB_RETENTION_SECONDS = 3600;

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
 * The relay job fans events out into messages and delivery jobs (`relay.ts`). A delivery job
 * makes one attempt (`post.ts`), records it (`attempts.ts`: a unique attempt number per message,
 * so an attempt is recorded once), and on failure marks the message wanted again at the next time
 * of the retry schedule. The relay re-queues itself every second (a `short` queue holds at most
 * one waiting relay job, so replicas do not multiply it), and each process sends one a minute to
 * restart the chain should a process die between the two.
 */
export function createWebhookEngine(options: WebhookEngineOptions): WebhookEngine {
  const { orm, clock, log, policy } = options;
  const ring = SecretRing.of(options.secrets);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const threshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
  const random = options.random ?? Math.random;
  // No cron schedules (`schedule: false`): pg-boss's timekeeper would read them every 5 s through
  // cron-parser and luxon, whose Intl calls page ICU's locale and time-zone data into every
  // process, for one per-minute job that a timer does as well (start() below).
  const boss = new PgBoss({
    connectionString: options.databaseUrl,
    max: 4,
    application_name: 'licentric-webhooks',
    schedule: false,
  });
  boss.on('error', (error: unknown) => log.error({ err: error }, 'webhook queue error'));
  let started = false;
  let background = false;
  let restarts: NodeJS.Timeout | undefined;

  async function ensureStarted(): Promise<void> {
    if (started) return;
    await boss.start();
    await boss.createQueue(RELAY, { policy: 'short' });
    await boss.createQueue(DELIVER, {
      expireInSeconds: Math.ceil(timeoutMs / 1000) + 60,
      retryLimit: 5,
      retryDelay: 5,
      retryBackoff: true,
    });
    // createQueue leaves a queue that exists as it is, so the retention is set on each start: a
    // changed setting applies to the jobs sent from then on (pg-boss copies it into each job).
    const relayRetention =
      options.jobRetentionMs === null || options.jobRetentionMs === undefined
        ? RELAY_JOB_RETENTION_SECONDS
        : Math.min(RELAY_JOB_RETENTION_SECONDS, Math.ceil(options.jobRetentionMs / 1000));
    await boss.updateQueue(RELAY, { deleteAfterSeconds: relayRetention });
    if (options.jobRetentionMs !== undefined) {
      // pg-boss reads 0 as "never delete".
      await boss.updateQueue(DELIVER, { deleteAfterSeconds: Math.ceil((options.jobRetentionMs ?? 0) / 1000) });
    }
    started = true;
  }

  async function relay(): Promise<void> {
    while (await relayBatch(orm, clock, boss));
  }

  async function deliver(job: DeliveryJob): Promise<Outcome> {
    const now = clock.now();
    const dueAt = new Date(job.dueAt);
    if (now.getTime() < dueAt.getTime()) {
      // Early by our clock (another process's, or the tests'): put it back for its time.
      await boss.send(DELIVER, job, { startAfter: dueAt });
      return 'deferred';
    }
    const target = await attemptTarget(orm, job.messageId, ring);
    // Gone, disabled, or this attempt already made (a job that outlived a crash): nothing to send.
    if (!target || target.attempts >= job.attempt) return 'skipped';

    const secrets = [target.secret];
    if (
      target.previous_secret &&
      target.previous_secret_expires_at &&
      new Date(target.previous_secret_expires_at) > now
    ) {
      secrets.push(target.previous_secret);
    }
    const webhookId = webhookIdOf(job.messageId);
    // A receiver checks `webhook-timestamp` against its own clock to refuse replays: real time,
    // whatever `clock` says.
    const timestamp = Math.floor(systemClock.now().getTime() / 1000);
    const result = await post(
      target.url,
      target.payload,
      {
        'content-type': 'application/json',
        'user-agent': 'Licentric-Webhooks/1',
        'webhook-id': webhookId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, webhookId, timestamp, target.payload),
      },
      policy,
      timeoutMs,
    );
    const succeeded = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const delay = succeeded ? null : retryDelayMs(job.attempt, random);
    const nextAttemptAt = delay === null ? null : new Date(now.getTime() + delay);

    await recordAttempt(orm, log, { job, target, result, succeeded, now, nextAttemptAt }, threshold);
    log.info(
      {
        webhookId,
        attempt: job.attempt,
        endpointId: target.endpoint_id,
        status: result.statusCode,
        ms: result.latencyMs,
        error: result.error,
      },
      `webhook attempt webhook_id=${webhookId} attempt=${job.attempt} status=${result.statusCode ?? 'none'} latency_ms=${result.latencyMs}`,
    );
    return 'attempted';
  }

  return {
    async start() {
      await ensureStarted();
      background = true;
      await boss.work<DeliveryJob>(DELIVER, { pollingIntervalSeconds: 1, localConcurrency: 4 }, async ([job]) => {
        await deliver(job!.data);
      });
      await boss.work(RELAY, { pollingIntervalSeconds: 1 }, async () => {
        await relay();
        await boss.send(RELAY, null, { startAfter: 1 });
      });
      // The chain's restart, a minute apart: every process sends its own, and the `short` queue
      // keeps just one of them waiting.
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
            const outcome = await deliver(job.data);
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
