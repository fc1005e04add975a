import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

/**
 * `recordEvent` takes an `EventType`, so TypeScript checks its callers; a statement that inserts
 * into `events` itself is plain SQL, where a quoted type name would be checked by nothing.
 */
describe('event types', () => {
  it('are never a bare string in a statement that writes events: a typed value, checked against EVENT_TYPES', () => {
    const statements = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        [
          ...readFileSync(path.join(SRC, file), 'utf8').matchAll(
            /insert into events \([^)]*\)\s*select([\s\S]*?)json_build_object/g,
          ),
        ].map((m) => ({ file, type: m[1]! })),
      );
    expect(statements.length).toBeGreaterThanOrEqual(6);
    const bare = statements.filter(({ type }) => /'[a-z-]+(\.[a-z-]+)+'(?! satisfies EventType)/.test(type));
    expect(bare.map(({ file, type }) => `src/${file}: select${type}`)).toEqual([]);
  });
});
