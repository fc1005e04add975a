import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.ts';
import { closest } from '../core/suggest.ts';
import { isScope, SCOPES, type Scope } from '../keys/scopes.ts';

// Reading a command line: the one positional id, and each kind of option value, refused with a
// usage error that names the option.

/** A command line that cannot run: one line says why, and which help to read. */
export class UsageError extends Error {
  /** The command group whose help explains the fix; undefined for the top-level help. */
  group?: string;

  constructor(message: string, group?: string) {
    super(message);
    this.group = group;
  }
}

/** `--help` anywhere, or a group alone: print that help instead of running anything. */
export class HelpRequest extends Error {
  readonly group: string | undefined;
  readonly exitCode: number;

  constructor(group: string | undefined, exitCode: number) {
    super('help');
    this.group = group;
    this.exitCode = exitCode;
  }
}

export type Values = Record<string, string | boolean | undefined>;
export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
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
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
    return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[0] ?? ''}`.trim();
  return error.message.replace(/^Option '([^ ']+)[^']*' argument missing$/, '$1 needs a value');
}

/** `takesId`: the command takes one positional argument, an ID unless named otherwise (`FILE`). */
export function parse(args: string[], options: Options, takesId: boolean | string = false): Parsed {
  const all: Options = { ...options, json: { type: 'boolean' }, help: { type: 'boolean' } };
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: Options; allowPositionals: boolean; strict: true }>
  >;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: takesId !== false, strict: true });
  } catch (error) {
    throw new UsageError(usageOf(error as Error, all));
  }
  if (takesId !== false) {
    const name = typeof takesId === 'string' ? takesId : 'ID';
    if (parsed.positionals.length !== 1)
      throw new UsageError(parsed.positionals.length === 0 ? `the ${name} is missing` : `expected exactly one ${name}`);
    return { values: parsed.values as Values, id: parsed.positionals[0] };
  }
  return { values: parsed.values as Values };
}

export function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function required(values: Values, name: string): string {
  const value = text(values, name);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** A date-time, or with `none`, the word that clears it (null). */
export function dateOption(values: Values, name: string, none?: string): Date | null | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (none !== undefined && value === none) return null;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--${name} must be an ISO 8601 date-time, e.g. 2027-01-01T00:00:00Z${none ? `, or "${none}"` : ''}`,
    );
  }
  return date;
}

export function integerOption(values: Values, name: string, none?: string): number | null | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (none !== undefined && value === none) return null;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number${none ? ` or "${none}"` : ''}`);
  return Number(value);
}

export function booleanOption(values: Values, name: string): boolean | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new UsageError(`--${name} must be true or false`);
  return value === 'true';
}

export function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const value = text(values, name);
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}${guess(value, allowed)}`);
  return value as T;
}

/** `; did you mean "X"?` when a known value is close, else nothing. */
export function guess(value: string, known: readonly string[]): string {
  const meant = closest(value, known);
  return meant ? `; did you mean '${meant}'?` : '';
}

export function scopesOption(values: Values): Scope[] {
  const scopes = required(values, 'scopes')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const scope of scopes) {
    if (!isScope(scope))
      throw new UsageError(
        `'${scope}' is not a scope${guess(scope, SCOPES) || '.'} The scopes are ${SCOPES.join(', ')}.`,
      );
  }
  return scopes as Scope[];
}

export const PAGE_OPTIONS: Options = { cursor: { type: 'string' }, limit: { type: 'string' } };

export function pageOptions(values: Values) {
  return { cursor: text(values, 'cursor'), limit: integerOption(values, 'limit') ?? DEFAULT_PAGE_SIZE };
}
