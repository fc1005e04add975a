import type { Server } from 'node:http';
import type { Config } from './config.ts';
import type { Clock } from './core/clock.ts';
import type { SecretRing } from './core/sealing.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Runtime } from './runtime.ts';
import type { WebhookEngine } from './webhooks/engine.ts';
import { startWorkerSchedule, type WorkerSchedule, workerPass } from './worker.ts';

// What runs beside the API in `serve` and on its own in `worker`: the metrics port, the worker
// schedule and webhook delivery. They are started and stopped here only, for every process.
// prom-client and pg-boss are loaded when a process asks for them, not by every CLI command.

/** The process's Prometheus registry, when LICENTRIC_METRICS_PORT asks for one. */
export async function createMetrics(config: Config): Promise<Metrics | undefined> {
  if (config.metricsPort === undefined) return undefined;
  const { Metrics } = await import('./metrics.ts');
  return new Metrics();
}

/** What the background parts use of the runtime: the ORM, the URL pg-boss connects to, the secrets webhooks are sealed under. */
type Database = Pick<Runtime, 'orm' | 'databaseUrl'> & { secrets: string | SecretRing };

export interface Background {
  /**
   * Stops the schedule and webhook delivery, letting a pass and the attempts under way finish,
   * then closes the metrics port. Before the database closes.
   */
  stop(): Promise<void>;
}

/**
 * Starts the background parts of `process`: for `worker` all of them, for `serve` those its
 * settings keep in the server (LICENTRIC_WORKER_IN_SERVER, LICENTRIC_WEBHOOKS_IN_SERVER), and in
 * both the metrics port when `metrics` is given. A part that fails to start stops the ones
 * already started.
 */
export async function startBackground(
  runtime: Database,
  config: Config,
  options: { process: 'serve' | 'worker'; metrics: Metrics | undefined; clock: Clock; log: Logger },
): Promise<Background> {
  const { metrics, clock, log } = options;
  const worker = options.process === 'worker';
  let metricsServer: Server | undefined;
  let schedule: WorkerSchedule | undefined;
  let webhooks: WebhookEngine | undefined;
  const stop = async () => {
    try {
      await Promise.all([schedule?.stop(), webhooks?.stop()]);
    } finally {
      metricsServer?.close();
    }
  };
  try {
    metricsServer = metrics ? await metrics.listen(config.metricsPort!, config.host, log) : undefined;
    if (worker || config.workerInServer) {
      schedule = startWorkerSchedule(
        runtime.orm,
        clock,
        log,
        config.workerCron,
        (result) => metrics?.observePass(result),
        config.retention,
        { yieldPercent: config.workerYieldPercent },
      );
    }
    if (worker || config.webhooksInServer) {
      webhooks = await createWebhooks(runtime, config, clock, log);
      await webhooks.start();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** `worker --once`: one worker pass, then every webhook attempt due now, and done. */
export async function runWorkerOnce(runtime: Database, config: Config, clock: Clock, log: Logger): Promise<void> {
  await workerPass(runtime.orm, clock, log, config.retention, undefined, { yieldPercent: config.workerYieldPercent });
  const engine = await createWebhooks(runtime, config, clock, log);
  try {
    await engine.runDue();
  } finally {
    await engine.stop();
  }
}

async function createWebhooks(runtime: Database, config: Config, clock: Clock, log: Logger): Promise<WebhookEngine> {
  const { createWebhookEngine } = await import('./webhooks/engine.ts');
  return createWebhookEngine({
    orm: runtime.orm,
    databaseUrl: runtime.databaseUrl,
    clock,
    log,
    policy: { allowPrivate: config.webhooksAllowPrivate },
    secrets: runtime.secrets,
    jobRetentionMs: config.retention.jobsMs,
  });
}
