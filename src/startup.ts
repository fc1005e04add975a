import { EmbeddedStartError } from './db/embedded.ts';
import { isDatabaseUnavailable } from './db/failure.ts';
import type { Logger } from './log.ts';

/** A start that failed for a reason the operator can fix, said in one line. */
export class StartupError extends Error {}

/**
 * The one line to print for a failure an operator can fix (port in use, a database that is not
 * there, a data folder in use; configuration errors have their own), or undefined for a bug,
 * whose stack trace is worth having.
 */
export function expectedFailure(error: unknown): string | undefined {
  if (error instanceof StartupError || error instanceof EmbeddedStartError) return error.message;
  if (isDatabaseUnavailable(error)) {
    // The driver's message names the address it tried (e.g. "connect ECONNREFUSED 10.0.0.5:5432").
    const cause = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return `cannot reach the database (${cause}); check DATABASE_URL and that PostgreSQL is running`;
  }
  return undefined;
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT (and when `parentPid`, the process that started
 * this one, is gone: `make run` killed outright must not leave the server behind). Resolves
 * with stop's result.
 */
export function stopOnSignal<T>(log: Logger, stop: () => Promise<T>, parentPid?: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let watch: NodeJS.Timeout | undefined;
    const begin = (reason: string) => {
      clearInterval(watch);
      log.info({ signal: reason }, 'shutting down');
      stop().then(resolve, reject);
    };
    process.once('SIGINT', () => begin('SIGINT'));
    process.once('SIGTERM', () => begin('SIGTERM'));
    if (parentPid !== undefined) {
      watch = setInterval(() => {
        try {
          process.kill(parentPid, 0);
        } catch {
          begin('parent exited');
        }
      }, 500);
    }
  });
}
