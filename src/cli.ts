#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { systemClock } from './core/clock.ts';
import { DomainError, InvalidInput } from './core/errors.ts';
import { SCOPES } from './keys/scopes.ts';
import { createLogger, type Logger } from './log.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { startServer } from './server.ts';
import { Services } from './services.ts';

const USAGE = `Usage: licentric <command> [options]

Commands:
  serve                                   Serve the API (PORT, default 3000)
  migrate                                 Bring the database schema up to date
  policies create --name NAME [--max-machines N] [--key-prefix PREFIX]
  licenses create --policy POLICY_ID [--name NAME] [--expires-at ISO_DATE_TIME]
  api-keys create --name NAME --scopes SCOPE[,SCOPE...] [--expires-at ISO_DATE_TIME]

Options:
  --json      Print the created object as JSON (with its key or token, shown only this once)
  --help      Show this help

Scopes: ${SCOPES.join(', ')}
The database is the one \`make run\` uses: DATABASE_URL, or the embedded one under LICENTRIC_DATA_DIR.`;

class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options']): Values {
  try {
    return parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, allowPositionals: false, strict: true }).values as Values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

function optionalDate(values: Values, name: string): Date | undefined {
  const value = values[name];
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(`--${name} must be an ISO 8601 date-time, e.g. 2027-01-01T00:00:00Z`);
  }
  return date;
}

function optionalInteger(values: Values, name: string): number | undefined {
  const value = values[name];
  if (typeof value !== 'string') return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

function print(values: Values, object: Record<string, unknown>, human: string): void {
  process.stdout.write(values.json ? `${JSON.stringify(object, null, 2)}\n` : `${human}\n`);
}

async function withServices<T>(config: Config, log: Logger, work: (services: Services, runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(config, log, { poolSize: 2 });
  try {
    return await work(new Services(runtime.orm.em.fork(), systemClock, runtime.hasher), runtime);
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

  const config = loadConfig();
  // The CLI's own output is on stdout; its logs go to stderr, quieter unless LOG_LEVEL says otherwise.
  const cliLog = () => createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', process.stderr);

  switch (command) {
    case 'serve': {
      parse([sub, ...rest].filter((a): a is string => a !== undefined), {});
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

    case 'migrate': {
      parse([sub, ...rest].filter((a): a is string => a !== undefined), {});
      const log = createLogger(config.logLevel, process.stderr);
      await withServices(config, log, async () => {});
      process.stdout.write('The database schema is up to date.\n');
      return 0;
    }

    case 'policies': {
      if (sub !== 'create') throw new UsageError(`unknown command: policies ${sub ?? ''}`);
      const values = parse(rest, { name: { type: 'string' }, 'max-machines': { type: 'string' }, 'key-prefix': { type: 'string' } });
      const policy = await withServices(config, cliLog(), (s) =>
        s.policies.create({
          name: required(values, 'name'),
          maxMachines: optionalInteger(values, 'max-machines') ?? null,
          keyPrefix: values['key-prefix'] as string | undefined,
        }),
      );
      print(
        values,
        {
          id: policy.id,
          name: policy.name,
          maxMachines: policy.maxMachines ?? null,
          keyPrefix: policy.keyPrefix,
          metadata: policy.metadata,
          createdAt: policy.createdAt.toISOString(),
          updatedAt: policy.updatedAt.toISOString(),
        },
        `Created policy ${policy.id} ("${policy.name}", ${policy.maxMachines == null ? 'no machine limit' : `at most ${policy.maxMachines} machines`}, keys ${policy.keyPrefix}-…)`,
      );
      return 0;
    }

    case 'licenses': {
      if (sub !== 'create') throw new UsageError(`unknown command: licenses ${sub ?? ''}`);
      const values = parse(rest, { policy: { type: 'string' }, name: { type: 'string' }, 'expires-at': { type: 'string' } });
      const { license, key } = await withServices(config, cliLog(), (s) =>
        s.licenses.create({
          policyId: required(values, 'policy'),
          name: (values.name as string | undefined) ?? null,
          expiresAt: optionalDate(values, 'expires-at') ?? null,
        }),
      );
      print(
        values,
        {
          id: license.id,
          policyId: license.policy.id,
          name: license.name ?? null,
          key,
          expiresAt: license.expiresAt?.toISOString() ?? null,
          metadata: license.metadata,
          createdAt: license.createdAt.toISOString(),
          updatedAt: license.updatedAt.toISOString(),
        },
        `Created license ${license.id}. Its key, shown only this once:\n\n  ${key}\n`,
      );
      return 0;
    }

    case 'api-keys': {
      if (sub !== 'create') throw new UsageError(`unknown command: api-keys ${sub ?? ''}`);
      const values = parse(rest, { name: { type: 'string' }, scopes: { type: 'string' }, 'expires-at': { type: 'string' } });
      const scopes = required(values, 'scopes')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const { apiKey, token } = await withServices(config, cliLog(), (s) =>
        s.apiKeys.create({ name: required(values, 'name'), scopes, expiresAt: optionalDate(values, 'expires-at') ?? null }),
      );
      print(
        values,
        {
          id: apiKey.id,
          name: apiKey.name,
          scopes: apiKey.scopes,
          token,
          expiresAt: apiKey.expiresAt?.toISOString() ?? null,
          createdAt: apiKey.createdAt.toISOString(),
        },
        `Created API key ${apiKey.id} with scopes ${apiKey.scopes.join(', ')}. Its token, shown only this once:\n\n  ${token}\n`,
      );
      return 0;
    }

    default:
      throw new UsageError(`unknown command: ${command}`);
  }
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
