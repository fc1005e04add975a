import { type FieldError, InvalidInput } from './errors.ts';
import { jsonFlaw, METADATA_MAX_DEPTH } from './json-value.ts';

/**
 * Input rules the domain enforces itself, whoever calls it (HTTP, CLI). The HTTP layer has
 * already checked the schema; these are the rules a schema cannot state, and the same rules
 * again for callers that bypass HTTP.
 */
export class Checks {
  readonly errors: FieldError[] = [];

  fail(pointer: string, message: string): void {
    this.errors.push({ pointer, message });
  }

  text(pointer: string, value: string | undefined | null, opts: { min?: number; max: number }): void {
    if (value === undefined || value === null) return;
    const length = [...value].length;
    if (opts.min !== undefined && length < opts.min) this.fail(pointer, `must be at least ${opts.min} characters`);
    if (length > opts.max) this.fail(pointer, `must be at most ${opts.max} characters`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
    if (/[\u0000-\u001f\u007f]/.test(value)) this.fail(pointer, 'must not contain control characters');
    // A lone surrogate has no UTF-8 form: stored, it would come back as U+FFFD, a different text.
    if (!value.isWellFormed()) this.fail(pointer, 'must be well-formed Unicode (it has a lone surrogate)');
  }

  integer(pointer: string, value: number | undefined | null, opts: { min: number; max?: number }): void {
    if (value === undefined || value === null) return;
    if (!Number.isSafeInteger(value)) this.fail(pointer, 'must be an integer');
    else if (value < opts.min) this.fail(pointer, `must be at least ${opts.min}`);
    else if (opts.max !== undefined && value > opts.max) this.fail(pointer, `must be at most ${opts.max}`);
  }

  /**
   * Free-form metadata: bounded in depth, well-formed and finite (json-value.ts) before its size is
   * measured, since JSON.stringify recurses and a deep enough value would exhaust the stack.
   */
  metadata(pointer: string, value: unknown): void {
    if (value === undefined) return;
    const flaw = jsonFlaw(value, METADATA_MAX_DEPTH, pointer);
    if (flaw) this.fail(flaw.pointer, flaw.message);
    else if (Buffer.byteLength(JSON.stringify(value), 'utf8') > METADATA_MAX_BYTES) {
      this.fail(pointer, `must be at most ${METADATA_MAX_BYTES / 1024} KiB as JSON`);
    }
  }

  /**
   * An instant PostgreSQL can store and RFC 3339 can write: years 0001 to 9999 in UTC. An offset
   * can carry a four-digit year across either edge (`0001-01-01T00:00:00+01:00`).
   */
  instant(pointer: string, value: Date | undefined | null): void {
    if (value === undefined || value === null) return;
    const time = value.getTime();
    if (Number.isNaN(time)) this.fail(pointer, 'must be a date-time');
    else if (time < EARLIEST_INSTANT || time > LATEST_INSTANT)
      this.fail(pointer, 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z');
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new InvalidInput(this.errors);
  }
}

export const METADATA_MAX_BYTES = 16 * 1024;

const EARLIEST_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The given fields among `keys` and nothing else: input may carry anything (an open JSON body),
 * and only the named settings may reach an entity. Undefined values are dropped too, so a
 * partial input never overwrites with undefined.
 */
export function pick<T extends object, K extends keyof T>(input: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (input[key] !== undefined) picked[key] = input[key];
  return picked;
}
