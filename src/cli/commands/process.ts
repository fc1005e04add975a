import { createMetrics, runWorkerOnce, startBackground } from '../../background.ts';
import { systemClock } from '../../core/clock.ts';
import { createLogger } from '../../log.ts';
import { openRuntime } from '../../runtime.ts';
import { stopOnSignal } from '../../startup.ts';
import { type Command, withServices } from '../command.ts';

/** The commands that run a process: the API server, the worker, a migration. */
export const PROCESS_COMMANDS: Record<string, Command> = {
  serve: {
    usage: '',
    summary:
      'Serve the API (PORT, default 3000), with the worker in-process unless LICENTRIC_WORKER_IN_SERVER=false, and webhook delivery unless LICENTRIC_WEBHOOKS_IN_SERVER=false',
    options: {},
    async run(_parsed, config) {
      const log = createLogger(config.logLevel);
      // Loaded here: the HTTP stack (Express, openapi-backend, the rate limiter) is for this command alone.
      const { startServer } = await import('../../server.ts');
      // Signals are taken before the start, not after it: one arriving between "listening" and
      // the handlers would end the process by default and leave its PostgreSQL running.
      const started = startServer(config, log);
      const stopped = stopOnSignal(log, async () => (await started).stop(), config.stopWithParent);
      // A failed start is thrown below; a signal during it has nothing left to stop.
      stopped.catch(() => {});
      await started;
      return (await stopped) ? 0 : 1;
    },
  },

  worker: {
    usage: '[--once]',
    summary:
      'Run the worker (culling, expiry, clean-up) on LICENTRIC_WORKER_CRON (default every minute) and deliver webhooks; --once runs one pass, makes the webhook attempts due, and exits',
    options: { once: { type: 'boolean' } },
    async run({ values }, config) {
      const log = createLogger(config.logLevel);
      const runtime = await openRuntime(config, log, { poolSize: 2 });
      try {
        if (values.once) {
          await runWorkerOnce(runtime, config, systemClock, log);
          return 0;
        }
        const metrics = await createMetrics(config);
        const background = await startBackground(runtime, config, {
          process: 'worker',
          metrics,
          clock: systemClock,
          log,
        });
        await stopOnSignal(log, background.stop);
        return 0;
      } finally {
        await runtime.close();
      }
    },
  },

  migrate: {
    usage: '',
    summary: 'Bring the database schema up to date',
    options: {},
    async run(_parsed, config) {
      await withServices(config, createLogger(config.logLevel, process.stderr), async () => {});
      process.stdout.write('The database schema is up to date.\n');
      return 0;
    },
  },
};
