#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=96 --no-maglev
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { systemClock } from './core/clock.ts';
import { DomainError, InvalidInput } from './core/errors.ts';
import { DEFAULT_PAGE_SIZE } from './core/pagination.ts';
import { closest } from './core/suggest.ts';
import { presentApiKey, presentLicense, presentMachine, presentPage, presentPolicy } from './http/presenters.ts';
import { isScope, SCOPES, type Scope } from './keys/scopes.ts';
import { LICENSE_STATUSES, type LicenseStatus } from './licenses/licenses.service.ts';
import { createLogger, type Logger } from './log.ts';
import { CULL_STRATEGIES, type HeartbeatCullStrategy } from './policies/policy.entity.ts';
import type { UpdatePolicyInput } from './policies/policies.service.ts';
import { openRuntime } from './runtime.ts';
import { createMetrics, runWorkerOnce, startBackground } from './background.ts';
import type { HeartbeatStatus } from './machines/heartbeat.ts';
import { expectedFailure, stopOnSignal } from './startup.ts';
import { Services } from './services.ts';

/** A command line that cannot run: one line says why, and which help to read. */
class UsageError extends Error {
  /** The command group whose help explains the fix; undefined for the top-level help. */
  group?: string;

  constructor(message: string, group?: string) {
    super(message);
    this.group = group;
  }
}

/** `--help` anywhere, or a group alone: print that help instead of running anything. */
class HelpRequest extends Error {
  readonly group: string | undefined;
  readonly exitCode: number;

  constructor(group: string | undefined, exitCode: number) {
    super('help');
    this.group = group;
    this.exitCode = exitCode;
  }
}

type Values = Record<string, string | boolean | undefined>;
type Options = NonNullable<ParseArgsConfig['options']>;

interface Parsed {
  values: Values;
  /** The one positional argument (an id), when the command takes one. */
  id?: string;
}

/** Node's parseArgs errors, said the way the rest of the CLI says things. */
function usageOf(error: Error & { code?: string }, options: Options): string {
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? '';
    const meant = closest(option.replace(/^-+/, ''), Object.keys(options));
    return `unknown option ${option}${meant ? `; did you mean --${meant}?` : ''}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[0] ?? ''}`.trim();
  return error.message.replace(/^Option '([^ ']+)[^']*' argument missing$/, '$1 needs a value');
}

function parse(args: string[], options: Options, takesId = false): Parsed {
  const all: Options = { ...options, json: { type: 'boolean' }, help: { type: 'boolean' } };
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: takesId, strict: true });
  } catch (error) {
    throw new UsageError(usageOf(error as Error, all));
  }
  if (takesId) {
    if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length === 0 ? 'the ID is missing' : 'expected exactly one ID');
    return { values: parsed.values as Values, id: parsed.positionals[0] };
  }
  return { values: parsed.values as Values };
}

function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string): string {
  const value = text(values, name);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** A date-time, or with `none`, the word that clears it (null). */
function dateOption(values: Values, name: string, none?: string): Date | null | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (none !== undefined && value === none) return null;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(`--${name} must be an ISO 8601 date-time, e.g. 2027-01-01T00:00:00Z${none ? `, or "${none}"` : ''}`);
  }
  return date;
}

function integerOption(values: Values, name: string, none?: string): number | null | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (none !== undefined && value === none) return null;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number${none ? ` or "${none}"` : ''}`);
  return Number(value);
}

function booleanOption(values: Values, name: string): boolean | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new UsageError(`--${name} must be true or false`);
  return value === 'true';
}

function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}${guess(value, allowed)}`);
  return value as T;
}

/** `; did you mean "X"?` when a known value is close, else nothing. */
function guess(value: string, known: readonly string[]): string {
  const meant = closest(value, known);
  return meant ? `; did you mean '${meant}'?` : '';
}

function scopesOption(values: Values): Scope[] {
  const scopes = required(values, 'scopes')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const scope of scopes) {
    if (!isScope(scope)) throw new UsageError(`'${scope}' is not a scope${guess(scope, SCOPES) || '.'} The scopes are ${SCOPES.join(', ')}.`);
  }
  return scopes as Scope[];
}

const PAGE_OPTIONS: Options = { cursor: { type: 'string' }, limit: { type: 'string' } };

function pageOptions(values: Values) {
  return { cursor: text(values, 'cursor'), limit: integerOption(values, 'limit') ?? DEFAULT_PAGE_SIZE };
}

const POLICY_OPTIONS: Options = {
  name: { type: 'string' },
  'max-machines': { type: 'string' },
  'key-prefix': { type: 'string' },
  'require-heartbeat': { type: 'string' },
  'heartbeat-duration': { type: 'string' },
  'heartbeat-cull-strategy': { type: 'string' },
  'heartbeat-resurrection-window': { type: 'string' },
};

function policySettings(values: Values): UpdatePolicyInput {
  return {
    name: text(values, 'name'),
    maxMachines: integerOption(values, 'max-machines', 'none'),
    keyPrefix: text(values, 'key-prefix'),
    requireHeartbeat: booleanOption(values, 'require-heartbeat'),
    heartbeatDuration: integerOption(values, 'heartbeat-duration') ?? undefined,
    heartbeatCullStrategy: oneOf<HeartbeatCullStrategy>(values, 'heartbeat-cull-strategy', CULL_STRATEGIES),
    heartbeatResurrectionWindow: integerOption(values, 'heartbeat-resurrection-window') ?? undefined,
  };
}

/** Prints JSON with --json, else the human line. */
function output(values: Values, json: unknown, human: string): void {
  process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

function table(rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function pageFooter(page: { hasMore: boolean; nextCursor: string | null }): string {
  return page.hasMore ? `\nMore follow: --cursor ${page.nextCursor}` : '';
}

/** One line of the command table: what it is called with, and what it does. */
interface Command {
  /** The arguments after the command's name, for the help. */
  usage: string;
  /** For the help, when the usage line does not say enough. */
  summary?: string;
  options: Options;
  takesId?: boolean;
  run(parsed: Parsed, config: Config): Promise<number>;
}

/** A command that works on the database through the same domain services as the API. */
function data(command: Omit<Command, 'run'> & { run(parsed: Parsed, services: Services): Promise<void> }): Command {
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

const MACHINE_HEARTBEAT_STATUSES = ['NOT_REQUIRED', 'ALIVE', 'DEAD'] as const satisfies readonly HeartbeatStatus[];

const GROUP_TITLES: Record<string, string> = { policies: 'Policies', licenses: 'Licenses', machines: 'Machines', 'api-keys': 'API keys' };

/** Extra lines of a group's help. */
const GROUP_NOTES: Record<string, string> = {
  policies: `HEARTBEAT OPTIONS: --require-heartbeat true|false  --heartbeat-duration SECONDS
                   --heartbeat-cull-strategy ${CULL_STRATEGIES.join('|')}
                   --heartbeat-resurrection-window SECONDS`,
  'api-keys': `Scopes: ${SCOPES.join(', ')}`,
};

/**
 * Every command, by its name: one word for the process commands, "<group> <verb>" for the rest.
 * The help, the dispatch and the "did you mean" all read this table.
 */
const COMMANDS: Record<string, Command> = {
  serve: {
    usage: '',
    summary:
      'Serve the API (PORT, default 3000), with the worker in-process unless LICENTRIC_WORKER_IN_SERVER=false, and webhook delivery unless LICENTRIC_WEBHOOKS_IN_SERVER=false',
    options: {},
    async run(_parsed, config) {
      const log = createLogger(config.logLevel);
      // Loaded here: the HTTP stack (Express, openapi-backend, the rate limiter) is for this command alone.
      const { startServer } = await import('./server.ts');
      const server = await startServer(config, log);
      return (await stopOnSignal(log, server.stop, config.stopWithParent)) ? 0 : 1;
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
        const background = await startBackground(runtime, config, { process: 'worker', metrics, clock: systemClock, log });
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

  'policies create': data({
    usage: '--name NAME [--max-machines N] [--key-prefix PREFIX] [HEARTBEAT OPTIONS]',
    options: POLICY_OPTIONS,
    async run({ values }, services) {
      const policy = await services.policies.create({ ...policySettings(values), name: required(values, 'name') });
      output(
        values,
        presentPolicy(policy),
        `Created policy ${policy.id} ("${policy.name}", ${policy.maxMachines == null ? 'no machine limit' : `at most ${policy.maxMachines} machines`}, keys ${policy.keyPrefix}-…)`,
      );
    },
  }),

  'policies list': data({
    usage: '[--cursor ID] [--limit N]',
    options: PAGE_OPTIONS,
    async run({ values }, services) {
      const page = await services.policies.list(pageOptions(values));
      output(
        values,
        presentPage(page, presentPolicy),
        table([['ID', 'NAME', 'MAX MACHINES', 'KEY PREFIX', 'HEARTBEAT'], ...page.items.map((p) => [
          p.id,
          p.name,
          String(p.maxMachines ?? 'none'),
          p.keyPrefix,
          p.requireHeartbeat ? `every ${p.heartbeatDuration}s, ${p.heartbeatCullStrategy}` : 'not required',
        ])]) + pageFooter(page),
      );
    },
  }),

  'policies get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const policy = presentPolicy(await services.policies.get(id!));
      output(values, policy, JSON.stringify(policy, null, 2));
    },
  }),

  'policies update': data({
    usage: 'ID [--name NAME] [--max-machines N|none] [--key-prefix PREFIX] [HEARTBEAT OPTIONS]',
    options: POLICY_OPTIONS,
    takesId: true,
    async run({ values, id }, services) {
      const policy = await services.policies.update(id!, policySettings(values));
      output(values, presentPolicy(policy), `Updated policy ${policy.id}.`);
    },
  }),

  'policies delete': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.policies.delete(id!);
      output(values, { id, deleted: true }, `Deleted policy ${id}.`);
    },
  }),

  'licenses create': data({
    usage: '--policy POLICY_ID [--name NAME] [--expires-at ISO_DATE_TIME]',
    summary: 'The expiry must not have passed (EXPIRES_IN_PAST); the key is printed once',
    options: { policy: { type: 'string' }, name: { type: 'string' }, 'expires-at': { type: 'string' } },
    async run({ values }, services) {
      const { license, key } = await services.licenses.create({
        policyId: required(values, 'policy'),
        name: text(values, 'name') ?? null,
        expiresAt: dateOption(values, 'expires-at') ?? null,
      });
      const [view] = await services.licenses.views([license]);
      output(values, { ...presentLicense(view!), key }, `Created license ${license.id}. Its key, shown only this once:\n\n  ${key}\n`);
    },
  }),

  'licenses list': data({
    usage: `[--policy POLICY_ID] [--status ${LICENSE_STATUSES.join('|')}] [--cursor ID] [--limit N]`,
    options: { ...PAGE_OPTIONS, policy: { type: 'string' }, status: { type: 'string' } },
    async run({ values }, services) {
      const page = await services.licenses.list({
        ...pageOptions(values),
        policyId: text(values, 'policy'),
        status: oneOf<LicenseStatus>(values, 'status', LICENSE_STATUSES),
      });
      output(
        values,
        presentPage(page, presentLicense),
        table([['ID', 'KEY', 'STATUS', 'MACHINES', 'EXPIRES', 'NAME'], ...page.items.map((v) => [
          v.license.id,
          v.license.keyHint,
          v.status,
          String(v.machineCount),
          v.license.expiresAt?.toISOString() ?? 'never',
          v.license.name ?? '',
        ])]) + pageFooter(page),
      );
    },
  }),

  'licenses get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const license = presentLicense(await services.licenses.view(id!));
      output(values, license, JSON.stringify(license, null, 2));
    },
  }),

  'licenses update': data({
    usage: 'ID [--name NAME|none] [--expires-at ISO_DATE_TIME|never] [--policy POLICY_ID]',
    options: { name: { type: 'string' }, 'expires-at': { type: 'string' }, policy: { type: 'string' } },
    takesId: true,
    async run({ values, id }, services) {
      const name = text(values, 'name');
      const view = await services.licenses.update(id!, {
        name: name === 'none' ? null : name,
        expiresAt: dateOption(values, 'expires-at', 'never'),
        policyId: text(values, 'policy'),
      });
      output(values, presentLicense(view), `Updated license ${view.license.id}.`);
    },
  }),

  'licenses suspend': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const view = await services.licenses.setSuspended(id!, true);
      output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
    },
  }),

  'licenses reinstate': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const view = await services.licenses.setSuspended(id!, false);
      output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
    },
  }),

  'licenses delete': data({
    usage: 'ID',
    summary: "Deactivates the license's machines too",
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.licenses.delete(id!);
      output(values, { id, deleted: true }, `Deleted license ${id}; its machines were deactivated.`);
    },
  }),

  'machines list': data({
    usage: `[--license LICENSE_ID] [--status ${MACHINE_HEARTBEAT_STATUSES.join('|')}] [--include-deactivated] [--cursor ID] [--limit N]`,
    summary: "--status is the machine's heartbeat status",
    options: { ...PAGE_OPTIONS, license: { type: 'string' }, status: { type: 'string' }, 'include-deactivated': { type: 'boolean' } },
    async run({ values }, services) {
      const page = await services.machines.list({
        ...pageOptions(values),
        licenseId: text(values, 'license'),
        heartbeatStatus: oneOf<HeartbeatStatus>(values, 'status', MACHINE_HEARTBEAT_STATUSES),
        includeDeactivated: values['include-deactivated'] === true,
      });
      const now = services.clock.now();
      const body = presentPage(page, (m) => presentMachine(m, now));
      output(
        values,
        body,
        table([['ID', 'FINGERPRINT', 'LICENSE', 'HEARTBEAT', 'LAST HEARTBEAT', 'DEACTIVATED', 'NAME'], ...body.data.map((m) => [
          m.id,
          m.fingerprint,
          m.licenseId,
          m.heartbeatStatus,
          m.lastHeartbeatAt ?? 'never',
          m.deletedAt ? `${m.deletedAt} (${m.deactivationReason})` : '',
          m.name ?? '',
        ])]) + pageFooter(page),
      );
    },
  }),

  'machines get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const machine = presentMachine(await services.machines.get(id!), services.clock.now());
      output(values, machine, JSON.stringify(machine, null, 2));
    },
  }),

  'machines deactivate': data({
    usage: 'ID',
    summary: 'Frees its seat and its fingerprint; the machine stays readable',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.machines.deactivate(id!);
      output(values, { id: id!.toLowerCase(), deleted: true }, `Deactivated machine ${id}.`);
    },
  }),

  'api-keys create': data({
    usage: '--name NAME --scopes SCOPE[,SCOPE...] [--expires-at ISO_DATE_TIME]',
    summary: 'The token is printed once',
    options: { name: { type: 'string' }, scopes: { type: 'string' }, 'expires-at': { type: 'string' } },
    async run({ values }, services) {
      const { apiKey, token } = await services.apiKeys.create({
        name: required(values, 'name'),
        scopes: scopesOption(values),
        expiresAt: dateOption(values, 'expires-at') ?? null,
      });
      output(
        values,
        { ...presentApiKey(apiKey), token },
        `Created API key ${apiKey.id} with scopes ${apiKey.scopes.join(', ')}. Its token, shown only this once:\n\n  ${token}\n`,
      );
    },
  }),

  'api-keys list': data({
    usage: '[--include-revoked] [--cursor ID] [--limit N]',
    options: { ...PAGE_OPTIONS, 'include-revoked': { type: 'boolean' } },
    async run({ values }, services) {
      const page = await services.apiKeys.list({ ...pageOptions(values), includeRevoked: values['include-revoked'] === true });
      output(
        values,
        presentPage(page, presentApiKey),
        table([['ID', 'NAME', 'TOKEN', 'SCOPES', 'LAST USED', 'REVOKED'], ...page.items.map((k) => [
          k.id,
          k.name,
          k.tokenHint,
          k.scopes.join(','),
          k.lastUsedAt?.toISOString() ?? 'never',
          k.revokedAt?.toISOString() ?? '',
        ])]) + pageFooter(page),
      );
    },
  }),

  'api-keys revoke': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const apiKey = await services.apiKeys.revoke(id!);
      output(values, presentApiKey(apiKey), `Revoked API key ${apiKey.id}.`);
    },
  }),
};

const GROUPS = [...new Set(Object.keys(COMMANDS).flatMap((name) => (name.includes(' ') ? [name.split(' ')[0]!] : [])))];

function helpLines(names: string[]): string {
  return names
    .map((name) => {
      const { usage, summary } = COMMANDS[name]!;
      return `  licentric ${name}${usage ? ` ${usage}` : ''}${summary ? `\n      ${summary}` : ''}`;
    })
    .join('\n');
}

const OPTIONS_HELP = `Options:
  --json      Print the result as JSON, in the API's shapes (a new key or token appears only once)
  --help      Show help`;

function groupHelp(group: string): string {
  const names = Object.keys(COMMANDS).filter((name) => name.startsWith(`${group} `));
  const notes = GROUP_NOTES[group] ? `\n\n${GROUP_NOTES[group]}` : '';
  return `Usage: licentric ${group} <command> [options]\n\n${helpLines(names)}${notes}\n\n${OPTIONS_HELP}`;
}

function fullHelp(): string {
  const server = Object.keys(COMMANDS).filter((name) => !name.includes(' '));
  const groups = GROUPS.map((group) => `${GROUP_TITLES[group] ?? group}:\n${helpLines(Object.keys(COMMANDS).filter((n) => n.startsWith(`${group} `)))}`);
  return `Usage: licentric <command> [options]

Server:
${helpLines(server)}

${groups.join('\n\n')}

${GROUP_NOTES.policies}

${OPTIONS_HELP}

Scopes: ${SCOPES.join(', ')}
The database is the one \`make run\` uses: DATABASE_URL, or the embedded one under LICENTRIC_DATA_DIR.`;
}

/** Finds the command an argv names, or says what is wrong with it. */
function resolve(argv: string[]): { name: string; args: string[] } {
  const [first, second, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') throw new HelpRequest(undefined, first === undefined ? 2 : 0);
  if (COMMANDS[first]) return { name: first, args: argv.slice(1) };
  if (GROUPS.includes(first)) {
    if (second === undefined || second === '--help' || second === '-h') throw new HelpRequest(first, second === undefined ? 2 : 0);
    const name = `${first} ${second}`;
    if (COMMANDS[name]) return { name, args: rest };
    const verbs = Object.keys(COMMANDS).filter((n) => n.startsWith(`${first} `)).map((n) => n.slice(first.length + 1));
    throw new UsageError(`'${second}' is not a ${first} command${guess(second, verbs)}`, first);
  }
  const meant = closest(first, [...GROUPS, ...Object.keys(COMMANDS).filter((name) => !name.includes(' '))]);
  throw new UsageError(`unknown command '${first}'${meant ? `; did you mean '${meant}'?` : ''}`, meant && GROUPS.includes(meant) ? meant : undefined);
}

async function withServices(config: Config, log: Logger, work: (services: Services) => Promise<void>): Promise<void> {
  const runtime = await openRuntime(config, log, { poolSize: 2 });
  try {
    await work(new Services(runtime.orm.em.fork(), systemClock, runtime.hasher));
  } finally {
    await runtime.close();
  }
}

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
      process.stderr.write(`licentric: ${error.message}\nsee 'licentric ${error.group ? `${error.group} ` : ''}--help'\n`);
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
      process.stderr.write(`licentric: invalid input:\n${error.errors.map((e) => `  ${e.pointer}: ${e.message}`).join('\n')}\n`);
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
