import { InvalidInput, type FieldError } from './errors.ts';

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
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) this.fail(pointer, 'must not contain control characters');
  }

  integer(pointer: string, value: number | undefined | null, opts: { min: number; max?: number }): void {
    if (value === undefined || value === null) return;
    if (!Number.isSafeInteger(value)) this.fail(pointer, 'must be an integer');
    else if (value < opts.min) this.fail(pointer, `must be at least ${opts.min}`);
    else if (opts.max !== undefined && value > opts.max) this.fail(pointer, `must be at most ${opts.max}`);
  }

  /** Caps the stored size of free-form JSON, which a schema cannot express in bytes. */
  jsonSize(pointer: string, value: unknown, maxBytes: number): void {
    if (value === undefined) return;
    if (Buffer.byteLength(JSON.stringify(value), 'utf8') > maxBytes) {
      this.fail(pointer, `must be at most ${maxBytes / 1024} KiB as JSON`);
    }
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new InvalidInput(this.errors);
  }
}

export const METADATA_MAX_BYTES = 16 * 1024;

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
