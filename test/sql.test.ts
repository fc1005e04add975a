import { describe, expect, it } from 'vitest';
import { execute, sql } from '../src/db/sql.ts';
import { useTestServer } from './support/harness.ts';

const server = useTestServer();

describe('the sql tag: fragments carry their own values', () => {
  it('binds each value where it is written, however fragments nest', () => {
    const inner = sql`b = ${2} and c = ${3}`;
    const statement = sql`select ${1} where ${inner} and d = ${4}`;
    expect(statement.text).toBe('select ? where b = ? and c = ? and d = ?');
    expect(statement.values).toEqual([1, 2, 3, 4]);
  });

  it('joins fragments with their values in order, and splices raw text without values', () => {
    const statement = sql`where ${sql.join([sql`a = ${'x'}`, sql`${sql.raw('m')}.b = ${'y'}`], ' and ')}`;
    expect(statement.text).toBe('where a = ? and m.b = ?');
    expect(statement.values).toEqual(['x', 'y']);
  });

  it('refuses a literal "?" in the text, which the driver would take for a placeholder', () => {
    expect(() => sql`select '{}'::jsonb ? 'a'`).toThrow(/literal "\?"/);
    expect(() => sql.raw('a ? b')).toThrow(/literal "\?"/);
  });

  it('reaches PostgreSQL with every value in its place', async () => {
    const middle = sql`${'two'}::text as b, ${3}::int as c`;
    const [row] = await execute<{ a: string; b: string; c: number; d: string }[]>(
      server.orm.em.fork(),
      sql`select ${'one'}::text as a, ${middle}, ${'four'}::text as d`,
    );
    expect(row).toEqual({ a: 'one', b: 'two', c: 3, d: 'four' });
  });
});
