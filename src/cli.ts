#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 --max-old-space-size=96 --no-maglev
import { HelpRequest, type Parsed, parse, UsageError } from './cli/arguments.ts';
import { COMMANDS, resolve } from './cli/commands.ts';
import { fullHelp, groupHelp } from './cli/help.ts';
import { ConfigError, loadConfig } from './config.ts';
import { DomainError, InvalidInput } from './core/errors.ts';
import { expectedFailure } from './startup.ts';

// The shebang line is how every production start runs (make run, npm start, the installed binary):
// glibc's allocator at two arenas instead of eight per core, whose per-thread arenas held ~10-15
// MiB of freed memory after load; a young generation of 4 MiB and an old space capped at 96 MiB
// (the server keeps ~40 MiB alive); no Maglev, whose background compilations filled those arenas
// too (bench/README.md, "Memory").

// The command table and its parts are in cli/: arguments.ts reads a command line, commands/ holds
// a file of commands per group, commands.ts the table they make, help.ts the help it prints.

async function main(argv: string[]): Promise<number> {
  const { name, args } = resolve(argv);
  const command = COMMANDS[name]!;
  const group = name.includes(' ') ? name.split(' ')[0] : undefined;
  let parsed: Parsed;
  try {
    parsed = parse(args, command.options, command.takesId);
  } catch (error) {
    if (error instanceof UsageError) error.group ??= group;
    throw error;
  }
  if (parsed.values.help) throw new HelpRequest(group, 0);
  try {
    // The data commands print their output on stdout and log to stderr, quieter unless LOG_LEVEL says otherwise.
    const processCommand = !name.includes(' ');
    return await command.run(parsed, loadConfig(process.env, processCommand ? {} : { logLevel: 'warn' }));
  } catch (error) {
    if (error instanceof UsageError) error.group ??= group;
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof HelpRequest) {
      process.stdout.write(`${error.group ? groupHelp(error.group) : fullHelp()}\n`);
      process.exit(error.exitCode);
    }
    if (error instanceof UsageError) {
      process.stderr.write(
        `licentric: ${error.message}\nsee 'licentric ${error.group ? `${error.group} ` : ''}--help'\n`,
      );
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`licentric: ${error.message}\n`);
      process.exit(2);
    }
    const expected = expectedFailure(error);
    if (expected !== undefined) {
      process.stderr.write(`licentric: ${expected}\n`);
      process.exit(1);
    }
    if (error instanceof InvalidInput) {
      process.stderr.write(
        `licentric: invalid input:\n${error.errors.map((e) => `  ${e.pointer}: ${e.message}`).join('\n')}\n`,
      );
      process.exit(1);
    }
    if (error instanceof DomainError) {
      process.stderr.write(`licentric: ${error.code}: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`licentric: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
