import { closest } from '../core/suggest.ts';
import { guess, HelpRequest, UsageError } from './arguments.ts';
import type { Command } from './command.ts';
import { API_KEY_COMMANDS } from './commands/api-keys.ts';
import { BACKUP_COMMANDS } from './commands/backup.ts';
import {
  ENTITLEMENT_COMMANDS,
  LICENSE_ENTITLEMENT_COMMANDS,
  POLICY_ENTITLEMENT_COMMANDS,
} from './commands/entitlements.ts';
import { LICENSE_COMMANDS } from './commands/licenses.ts';
import { MACHINE_COMMANDS } from './commands/machines.ts';
import { POLICY_COMMANDS } from './commands/policies.ts';
import { PROCESS_COMMANDS } from './commands/process.ts';
import { PROCESSES_COMMANDS } from './commands/processes.ts';
import { PRODUCT_COMMANDS } from './commands/products.ts';
import { SECRETS_COMMANDS } from './commands/secrets.ts';
import { SIGNING_KEY_COMMANDS } from './commands/signing-keys.ts';
import { FILE_COMMANDS } from './commands/verify.ts';

/**
 * Every command, by its name: one word for the process commands, "<group> <verb>" for the rest.
 * The help, the dispatch and the "did you mean" all read this table; a group's commands are a
 * file of commands/, and the order here is the order of the help.
 */
export const COMMANDS: Record<string, Command> = {
  ...PROCESS_COMMANDS,
  ...BACKUP_COMMANDS,
  ...PRODUCT_COMMANDS,
  ...POLICY_COMMANDS,
  ...POLICY_ENTITLEMENT_COMMANDS,
  ...LICENSE_COMMANDS,
  ...LICENSE_ENTITLEMENT_COMMANDS,
  ...MACHINE_COMMANDS,
  ...PROCESSES_COMMANDS,
  ...ENTITLEMENT_COMMANDS,
  ...API_KEY_COMMANDS,
  ...SIGNING_KEY_COMMANDS,
  ...SECRETS_COMMANDS,
  ...FILE_COMMANDS,
};

export const GROUPS = [
  ...new Set(Object.keys(COMMANDS).flatMap((name) => (name.includes(' ') ? [name.split(' ')[0]!] : []))),
];

/** Finds the command an argv names, or says what is wrong with it. */
export function resolve(argv: string[]): { name: string; args: string[] } {
  const [first, second, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help')
    throw new HelpRequest(undefined, first === undefined ? 2 : 0);
  if (COMMANDS[first]) return { name: first, args: argv.slice(1) };
  if (GROUPS.includes(first)) {
    if (second === undefined || second === '--help' || second === '-h')
      throw new HelpRequest(first, second === undefined ? 2 : 0);
    const name = `${first} ${second}`;
    if (COMMANDS[name]) return { name, args: rest };
    const verbs = Object.keys(COMMANDS)
      .filter((n) => n.startsWith(`${first} `))
      .map((n) => n.slice(first.length + 1));
    throw new UsageError(`'${second}' is not a ${first} command${guess(second, verbs)}`, first);
  }
  const meant = closest(first, [...GROUPS, ...Object.keys(COMMANDS).filter((name) => !name.includes(' '))]);
  throw new UsageError(
    `unknown command '${first}'${meant ? `; did you mean '${meant}'?` : ''}`,
    meant && GROUPS.includes(meant) ? meant : undefined,
  );
}
