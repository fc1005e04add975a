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

/** A value met in the walk, and how to name it should it be the flaw; pointers are built only then. */
interface Node {
  value: unknown;
  depth: number;
  parent: Node | undefined;
  token: string;
}

function pointerOf(node: Node, base: string): string {
  const tokens: string[] = [];
  for (let at: Node | undefined = node; at?.parent !== undefined; at = at.parent) {
    tokens.push(
      at.token.includes('~') || at.token.includes('/') ? at.token.replace(/~/g, '~0').replace(/\//g, '~1') : at.token,
    );
  }
  return (
    base +
    tokens
      .reverse()
      .map((t) => `/${t}`)
      .join('')
  );
}

/**
 * The first flaw in a parsed JSON value: an object or array nested deeper than `maxDepth`, a
 * string or key that is not well-formed Unicode (a lone surrogate, which JSON's `\uD800` escape
 * can spell), or a number beyond a double's range (JSON.parse reads `1e309` as Infinity, which
 * serialises as `null`). `depth` is the level of `value` itself: 1 when the value is the metadata,
 * 0 when it is a body that holds metadata as a member; `pointer` is where `value` is.
 *
 * Iterative, so a value of any depth a parser produced is walked without exhausting the stack;
 * each node is visited once. It runs on every body (heartbeat and validate included), so the
 * happy path builds no pointer.
 */
export function jsonFlaw(value: unknown, maxDepth: number, pointer = '', depth = 1): JsonFlaw | undefined {
  const stack: Node[] = [{ value, depth, parent: undefined, token: '' }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const current = node.value;
    if (typeof current === 'string') {
      if (!current.isWellFormed())
        return { pointer: pointerOf(node, pointer), message: 'must be well-formed Unicode (it has a lone surrogate)' };
    } else if (typeof current === 'number') {
      if (!Number.isFinite(current))
        return {
          pointer: pointerOf(node, pointer),
          message: 'must be a number within the range of a double (about ±1.8e308)',
        };
    } else if (current !== null && typeof current === 'object') {
      if (node.depth > maxDepth)
        return { pointer: pointerOf(node, pointer), message: `must not nest deeper than ${maxDepth} levels` };
      if (Array.isArray(current)) {
        for (let i = current.length - 1; i >= 0; i--)
          stack.push({ value: current[i], depth: node.depth + 1, parent: node, token: String(i) });
      } else {
        const keys = Object.keys(current);
        // Keys first: a pointer into the value must itself be readable when it is reported.
        for (const key of keys) {
          if (!key.isWellFormed())
            return {
              pointer: pointerOf(node, pointer),
              message: 'must have well-formed Unicode keys (one has a lone surrogate)',
            };
        }
        for (let i = keys.length - 1; i >= 0; i--) {
          stack.push({
            value: (current as Record<string, unknown>)[keys[i]!],
            depth: node.depth + 1,
            parent: node,
            token: keys[i]!,
          });
        }
      }
    }
  }
  return undefined;
}
