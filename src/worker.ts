import { Cron } from 'croner';
import type { Clock } from './core/clock.ts';
import { isDatabaseUnavailable } from './db/failure.ts';
import { sweepExpired } from './db/housekeeping.ts';
import type { Orm } from './db/orm.ts';
import { DEFAULT_TRIM_OPTIONS, type Retention, type TrimResult, trimHistory } from './db/retention.ts';
import { announceExpiredLicenses } from './licenses/expiry.ts';
import type { Logger } from './log.ts';
import { type CullOptions, type CullResult, cullPass } from './machines/cull.ts';
import { cullProcessesPass } from './machines/process-cull.ts';

/** Every minute, unless LICENTRIC_WORKER_CRON says otherwise. */
export const DEFAULT_WORKER_CRON = '* * * * *';

/** Whether a cron expression is one the worker can run, for checking configuration at start. */
export function isValidCron(expression: string): boolean {
  try {
    new Cron(expression, { paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}

export interface WorkerPassResult extends CullResult {
  /** What the retention trim deleted; undefined when the pass was given no retention. */
  trimmed?: TrimResult;
}

/**
 * One pass of the worker: culling machines, then releasing processes whose lease expired,
 * announcing the licenses that expired, then deleting expired idempotency keys and rate-limit
 * counters, and last the events and webhook deliveries past their `retention`, when given (the
 * configuration always gives it; a test that moves its clock by months may leave it out).
 */
export async function workerPass(
  orm: Orm,
  clock: Clock,
  log: Logger,
  retention?: Retention,
  signal?: AbortSignal,
  cull: Pick<CullOptions, 'yieldPercent'> = {},
): Promise<WorkerPassResult> {
  const result: WorkerPassResult = await cullPass(orm.em.fork(), clock, log, { ...cull, signal });
  // Stopping: the rest is short work the next pass (of this worker or another) does as well.
  if (signal?.aborted) return result;
  await cullProcessesPass(orm.em.fork(), clock, log);
  await announceExpiredLicenses(orm.em.fork(), clock.now());
  const swept = await sweepExpired(orm.em.fork(), clock.now());
  if (swept.idempotencyKeys + swept.rateLimitCounters > 0) log.info(swept, 'expired rows deleted');
  if (retention) {
    const trimmed = await trimHistory(() => orm.em.fork(), clock.now(), retention, { ...DEFAULT_TRIM_OPTIONS, signal });
    if (trimmed.events + trimmed.deliveries > 0 || !trimmed.complete)
      log.info(
        trimmed,
        `history trimmed events=${trimmed.events} deliveries=${trimmed.deliveries} attempts=${trimmed.attempts} complete=${trimmed.complete}`,
      );
    result.trimmed = trimmed;
  }
  return result;
}

export interface WorkerSchedule {
  /** When the next pass is due. */
  nextRun(): Date | null;
  /** Runs a pass now, outside the schedule (unless one is under way), and waits for it. */
  trigger(): Promise<void>;
  /** Stops scheduling and waits for a pass under way to finish. */
  stop(): Promise<void>;
}

/**
 * Runs the worker pass on a cron schedule. Passes never overlap in one process (`protect`); across
 * processes and replicas, cullPass's row claims keep each machine culled once. A failed pass is
 * logged and the schedule goes on: the next pass picks up what this one missed.
 */
export function startWorkerSchedule(
  orm: Orm,
  clock: Clock,
  log: Logger,
  expression: string,
  onPass: (result: WorkerPassResult) => void = () => {},
  retention?: Retention,
  cull: Pick<CullOptions, 'yieldPercent'> = {},
): WorkerSchedule {
  let running: Promise<void> = Promise.resolve();
  const stopping = new AbortController();
  const job = new Cron(expression, { protect: true }, () => {
    running = workerPass(orm, clock, log, retention, stopping.signal, cull).then(onPass, (error: unknown) =>
      isDatabaseUnavailable(error)
        ? log.warn({ err: error }, 'cull pass skipped: the database is unavailable; the next pass runs on schedule')
        : log.error({ err: error }, 'cull pass failed'),
    );
    return running;
  });
  log.info({ cron: expression, next: job.nextRun()?.toISOString() }, 'cull worker scheduled');
  return {
    nextRun: () => job.nextRun(),
    trigger: async () => {
      await job.trigger();
      await running;
    },
    stop: async () => {
      job.stop();
      stopping.abort();
      await running;
    },
  };
}
