/**
 * Bounds on JSON values the server accepts and stores: what it stores, any standard JSON reader
 * must be able to read back (Python's `json` gives up near 1 000 levels, jq at 10 000 levels or
 * on an escaped lone surrogate). Metadata is the only free-form JSON; every other field is typed
 * by the schema.
 */

/** How deep metadata may nest, the metadata object itself being the first level. */
export const METADATA_MAX_DEPTH = 32;

/** One thing in a JSON value a standard reader could not read back, where it is and what it is. */
export interface JsonFlaw {
  pointer: string;
  message: string;
}

const escapeToken = (token: string): string => token.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The first flaw in a parsed JSON value: an object or array nested deeper than `maxDepth`, a
 * string or key that is not well-formed Unicode (a lone surrogate, which JSON's `\uD800` escape
 * can spell), or a number beyond a double's range (JSON.parse reads `1e309` as Infinity, which
 * serialises as `null`). `depth` is the level of `value` itself: 1 when the value is the metadata,
 * 0 when it is a body that holds metadata as a member.
 *
 * Iterative, so a value of any depth a parser produced is walked without exhausting the stack;
 * each node is visited once.
 */
export function jsonFlaw(value: unknown, maxDepth: number, pointer = '', depth = 1): JsonFlaw | undefined {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value, pointer, depth }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const { value: current, pointer: at, depth: level } = node;
    if (typeof current === 'string') {
      if (!current.isWellFormed()) return { pointer: at, message: 'must be well-formed Unicode (it has a lone surrogate)' };
    } else if (typeof current === 'number') {
      if (!Number.isFinite(current)) return { pointer: at, message: 'must be a number within the range of a double (about ±1.8e308)' };
    } else if (current !== null && typeof current === 'object') {
      if (level > maxDepth) return { pointer: at, message: `must not nest deeper than ${maxDepth} levels` };
      if (Array.isArray(current)) {
        for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], pointer: `${at}/${i}`, depth: level + 1 });
      } else {
        const keys = Object.keys(current);
        // Keys first: a pointer into the value must itself be readable when it is reported.
        if (!keys.every((key) => key.isWellFormed())) return { pointer: at, message: 'must have well-formed Unicode keys (one has a lone surrogate)' };
        for (let i = keys.length - 1; i >= 0; i--) {
          stack.push({ value: (current as Record<string, unknown>)[keys[i]!], pointer: `${at}/${escapeToken(keys[i]!)}`, depth: level + 1 });
        }
      }
    }
  }
  return undefined;
}
