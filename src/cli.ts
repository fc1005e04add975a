#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=96
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { systemClock } from './core/clock.ts';
import { DomainError, InvalidInput } from './core/errors.ts';
import { DEFAULT_PAGE_SIZE } from './core/pagination.ts';
import { presentApiKey, presentLicense, presentPage, presentPolicy } from './http/presenters.ts';
import { SCOPES } from './keys/scopes.ts';
import { LICENSE_STATUSES, type LicenseStatus } from './licenses/licenses.service.ts';
import { createLogger, type Logger } from './log.ts';
import { CULL_STRATEGIES, type HeartbeatCullStrategy } from './policies/policy.entity.ts';
import type { UpdatePolicyInput } from './policies/policies.service.ts';
import { openRuntime } from './runtime.ts';
import { cullPass } from './machines/cull.ts';
import { startServer } from './server.ts';
import { Services } from './services.ts';
import { startCullSchedule } from './worker.ts';

const USAGE = `Usage: licentric <command> [options]

Server:
  serve                                   Serve the API (PORT, default 3000), with the culling
                                          worker in-process unless LICENTRIC_CULL_IN_SERVER=false
  worker [--once]                         Run the culling worker on LICENTRIC_CULL_CRON (default
                                          every minute); --once runs one pass and exits
  migrate                                 Bring the database schema up to date

Policies:
  policies create --name NAME [--max-machines N] [--key-prefix PREFIX] [HEARTBEAT OPTIONS]
  policies list [--cursor ID] [--limit N]
  policies get ID
  policies update ID [--name NAME] [--max-machines N|none] [--key-prefix PREFIX] [HEARTBEAT OPTIONS]
  policies delete ID

  HEARTBEAT OPTIONS: --require-heartbeat true|false  --heartbeat-duration SECONDS
                     --heartbeat-cull-strategy ${CULL_STRATEGIES.join('|')}
                     --heartbeat-resurrection-window SECONDS

Licenses:
  licenses create --policy POLICY_ID [--name NAME] [--expires-at ISO_DATE_TIME]
  licenses list [--policy POLICY_ID] [--status ${LICENSE_STATUSES.join('|')}] [--cursor ID] [--limit N]
  licenses get ID
  licenses update ID [--name NAME|none] [--expires-at ISO_DATE_TIME|never] [--policy POLICY_ID]
  licenses suspend ID
  licenses reinstate ID
  licenses delete ID                       (deactivates the license's machines too)

API keys:
  api-keys create --name NAME --scopes SCOPE[,SCOPE...] [--expires-at ISO_DATE_TIME]
  api-keys list [--include-revoked] [--cursor ID] [--limit N]
  api-keys revoke ID

Options:
  --json      Print the result as JSON, in the API's shapes (a new key or token appears only once)
  --help      Show this help

Scopes: ${SCOPES.join(', ')}
The database is the one \`make run\` uses: DATABASE_URL, or the embedded one under LICENTRIC_DATA_DIR.`;

class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;
type Options = NonNullable<ParseArgsConfig['options']>;

interface Parsed {
  values: Values;
  /** The one positional argument (an id), when the command takes one. */
  id?: string;
}

function parse(args: string[], options: Options, takesId = false): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, allowPositionals: takesId, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (takesId) {
    if (parsed.positionals.length !== 1) throw new UsageError('expected exactly one ID');
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
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
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

type Command = (args: string[], services: Services) => Promise<void>;

/** Every data command, by "<noun> <verb>". Each goes through the same domain services as the API. */
const COMMANDS: Record<string, Command> = {
  async 'policies create'(args, services) {
    const { values } = parse(args, POLICY_OPTIONS);
    const policy = await services.policies.create({ ...policySettings(values), name: required(values, 'name') });
    output(
      values,
      presentPolicy(policy),
      `Created policy ${policy.id} ("${policy.name}", ${policy.maxMachines == null ? 'no machine limit' : `at most ${policy.maxMachines} machines`}, keys ${policy.keyPrefix}-…)`,
    );
  },

  async 'policies list'(args, services) {
    const { values } = parse(args, PAGE_OPTIONS);
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

  async 'policies get'(args, services) {
    const { values, id } = parse(args, {}, true);
    const policy = presentPolicy(await services.policies.get(id!));
    output(values, policy, JSON.stringify(policy, null, 2));
  },

  async 'policies update'(args, services) {
    const { values, id } = parse(args, POLICY_OPTIONS, true);
    const policy = await services.policies.update(id!, policySettings(values));
    output(values, presentPolicy(policy), `Updated policy ${policy.id}.`);
  },

  async 'policies delete'(args, services) {
    const { values, id } = parse(args, {}, true);
    await services.policies.delete(id!);
    output(values, { id, deleted: true }, `Deleted policy ${id}.`);
  },

  async 'licenses create'(args, services) {
    const { values } = parse(args, { policy: { type: 'string' }, name: { type: 'string' }, 'expires-at': { type: 'string' } });
    const { license, key } = await services.licenses.create({
      policyId: required(values, 'policy'),
      name: text(values, 'name') ?? null,
      expiresAt: dateOption(values, 'expires-at') ?? null,
    });
    const [view] = await services.licenses.views([license]);
    output(values, { ...presentLicense(view!), key }, `Created license ${license.id}. Its key, shown only this once:\n\n  ${key}\n`);
  },

  async 'licenses list'(args, services) {
    const { values } = parse(args, { ...PAGE_OPTIONS, policy: { type: 'string' }, status: { type: 'string' } });
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

  async 'licenses get'(args, services) {
    const { values, id } = parse(args, {}, true);
    const license = presentLicense(await services.licenses.view(id!));
    output(values, license, JSON.stringify(license, null, 2));
  },

  async 'licenses update'(args, services) {
    const { values, id } = parse(args, { name: { type: 'string' }, 'expires-at': { type: 'string' }, policy: { type: 'string' } }, true);
    const name = text(values, 'name');
    const view = await services.licenses.update(id!, {
      name: name === 'none' ? null : name,
      expiresAt: dateOption(values, 'expires-at', 'never'),
      policyId: text(values, 'policy'),
    });
    output(values, presentLicense(view), `Updated license ${view.license.id}.`);
  },

  async 'licenses suspend'(args, services) {
    const { values, id } = parse(args, {}, true);
    const view = await services.licenses.setSuspended(id!, true);
    output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
  },

  async 'licenses reinstate'(args, services) {
    const { values, id } = parse(args, {}, true);
    const view = await services.licenses.setSuspended(id!, false);
    output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
  },

  async 'licenses delete'(args, services) {
    const { values, id } = parse(args, {}, true);
    await services.licenses.delete(id!);
    output(values, { id, deleted: true }, `Deleted license ${id}; its machines were deactivated.`);
  },

  async 'api-keys create'(args, services) {
    const { values } = parse(args, { name: { type: 'string' }, scopes: { type: 'string' }, 'expires-at': { type: 'string' } });
    const scopes = required(values, 'scopes')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const { apiKey, token } = await services.apiKeys.create({
      name: required(values, 'name'),
      scopes,
      expiresAt: dateOption(values, 'expires-at') ?? null,
    });
    output(
      values,
      { ...presentApiKey(apiKey), token },
      `Created API key ${apiKey.id} with scopes ${apiKey.scopes.join(', ')}. Its token, shown only this once:\n\n  ${token}\n`,
    );
  },

  async 'api-keys list'(args, services) {
    const { values } = parse(args, { ...PAGE_OPTIONS, 'include-revoked': { type: 'boolean' } });
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

  async 'api-keys revoke'(args, services) {
    const { values, id } = parse(args, {}, true);
    const apiKey = await services.apiKeys.revoke(id!);
    output(values, presentApiKey(apiKey), `Revoked API key ${apiKey.id}.`);
  },
};

async function withServices(config: Config, log: Logger, work: (services: Services) => Promise<void>): Promise<void> {
  const runtime = await openRuntime(config, log, { poolSize: 2 });
  try {
    await work(new Services(runtime.orm.em.fork(), systemClock, runtime.hasher));
  } finally {
    await runtime.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }

  // The data commands print their output on stdout and log to stderr, quieter unless LOG_LEVEL says otherwise.
  const config = loadConfig(process.env, ['serve', 'worker', 'migrate'].includes(command) ? {} : { logLevel: 'warn' });

  if (command === 'serve') {
    parse(argv.slice(1), {});
    const log = createLogger(config.logLevel);
    const server = await startServer(config, log);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.stop();
    return 0;
  }

  if (command === 'worker') {
    const { values } = parse(argv.slice(1), { once: { type: 'boolean' } });
    const log = createLogger(config.logLevel);
    const runtime = await openRuntime(config, log, { poolSize: 2 });
    try {
      if (values.once) {
        await cullPass(runtime.orm.em.fork(), systemClock, log);
        return 0;
      }
      const schedule = startCullSchedule(runtime.orm, systemClock, log, config.cullCron);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      log.info('shutting down');
      await schedule.stop();
      return 0;
    } finally {
      await runtime.close();
    }
  }

  if (command === 'migrate') {
    parse(argv.slice(1), {});
    await withServices(config, createLogger(config.logLevel, process.stderr), async () => {});
    process.stdout.write('The database schema is up to date.\n');
    return 0;
  }

  const run = COMMANDS[`${command} ${sub ?? ''}`];
  if (!run) throw new UsageError(`unknown command: ${[command, sub].filter(Boolean).join(' ')}`);
  const log = createLogger(config.logLevel, process.stderr);
  await withServices(config, log, (services) => run(rest, services));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`licentric: ${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`licentric: ${error.message}\n`);
      process.exit(2);
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
