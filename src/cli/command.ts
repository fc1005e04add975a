import type { Config } from '../config.ts';
import { systemClock } from '../core/clock.ts';
import { CLI_ACTOR } from '../events/actor.ts';
import { createLogger, type Logger } from '../log.ts';
import { openRuntime } from '../runtime.ts';
import { Services } from '../services.ts';
import type { Options, Parsed } from './arguments.ts';

/** One line of the command table: what it is called with, and what it does. */
export interface Command {
  /** The arguments after the command's name, for the help. */
  usage: string;
  /** For the help, when the usage line does not say enough. */
  summary?: string;
  options: Options;
  /** One positional argument: an ID, or what the string names (`FILE`). */
  takesId?: boolean | string;
  run(parsed: Parsed, config: Config): Promise<number>;
}

/** A command that works on the database through the same domain services as the API. */
export function data(
  command: Omit<Command, 'run'> & { run(parsed: Parsed, services: Services): Promise<void> },
): Command {
  return {
    ...command,
    run: async (parsed, config) => {
      // The output is on stdout; logs go to stderr, quieter unless LOG_LEVEL says otherwise.
      const log = createLogger(config.logLevel, process.stderr);
      await withServices(config, log, (services) => command.run(parsed, services));
      return 0;
    },
  };
}

/** Opens the database for one command and closes it after, whatever `work` does. */
export async function withServices(
  config: Config,
  log: Logger,
  work: (services: Services) => Promise<void>,
): Promise<void> {
  const runtime = await openRuntime(config, log, { poolSize: 2 });
  try {
    await work(
      new Services(runtime.orm.em.fork(), systemClock, runtime.hasher, CLI_ACTOR, { secret: runtime.secrets }),
    );
  } finally {
    await runtime.close();
  }
}
