import type { QueryResult } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';

/**
 * A piece of SQL with its values beside the places they go. Written with the `sql` tag below:
 * every `${value}` becomes a placeholder bound to that value, and every `${fragment}` is spliced
 * in with its own values, so composing statements from fragments can never shift a value into
 * another's place.
 */
export class Sql {
  readonly #text: string;
  readonly values: readonly unknown[];

  private constructor(text: string, values: readonly unknown[]) {
    this.#text = text;
    this.values = values;
  }

  /** MikroORM's `?` placeholders; a literal `?` in the text is refused where it is written. */
  get text(): string {
    return this.#text;
  }

  static tag(strings: TemplateStringsArray, ...values: unknown[]): Sql {
    let text = Sql.#literal(strings[0]!);
    const bound: unknown[] = [];
    values.forEach((value, i) => {
      if (value instanceof Sql) {
        text += value.#text;
        bound.push(...value.values);
      } else {
        text += '?';
        bound.push(value);
      }
      text += Sql.#literal(strings[i + 1]!);
    });
    return new Sql(text, bound);
  }

  /** Trusted text spliced in as it is: an alias or a column name written in code, never input. */
  static raw(text: string): Sql {
    return new Sql(Sql.#literal(text), []);
  }

  static join(fragments: Sql[], separator: string): Sql {
    return new Sql(
      fragments.map((f) => f.#text).join(Sql.#literal(separator)),
      fragments.flatMap((f) => f.values),
    );
  }

  static #literal(text: string): string {
    // The driver would read a literal `?` as a placeholder and bind the wrong value to it.
    if (text.includes('?'))
      throw new Error(`a literal "?" in SQL text would be read as a placeholder: ${text.trim().slice(0, 60)}`);
    return text;
  }
}

export const sql = Object.assign((strings: TemplateStringsArray, ...values: unknown[]) => Sql.tag(strings, ...values), {
  raw: (text: string) => Sql.raw(text),
  join: (fragments: Sql[], separator: string) => Sql.join(fragments, separator),
});

/**
 * A statement for node-postgres itself (`pool.query(...)`), whose placeholders are `$1`, `$2`, …:
 * for code that holds the driver's pool rather than an EntityManager. Every `?` in the text is a
 * placeholder, since `sql` refuses literal ones.
 */
export function forDriver(statement: Sql): { text: string; values: unknown[] } {
  let n = 0;
  return { text: statement.text.replace(/\?/g, () => `$${++n}`), values: [...statement.values] };
}

/**
 * A PostgreSQL array literal of text values, each quoted and escaped, so any text keeps its
 * place; cast it where it is used (`${arrayLiteral(ids)}::uuid[]`). Statements that take a list as
 * one parameter use it: the ORM's `execute` would spread a JavaScript array into a parameter list,
 * and the text of a statement prepared once must not depend on the list's length.
 */
export function arrayLiteral(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`)).join(',')}}`;
}

/** A timestamp column's value as a Date: the ORM's connection hands timestamps over as text. */
export function asDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

export function maybeDate(value: unknown): Date | null {
  return value == null ? null : asDate(value);
}

/** Runs a statement written with `sql` that changes rows, for the count it changed. */
export function run(em: EntityManager, statement: Sql): Promise<QueryResult> {
  return em.execute<QueryResult>(statement.text, [...statement.values], 'run');
}

/**
 * A transaction on one of the driver's own connections (`inDriverTransaction`), for a write every
 * installed copy makes (an activation): each statement goes to PostgreSQL as a prepared statement
 * with its values bound, where the ORM's `execute` writes the values into the text, which
 * PostgreSQL then parses and plans anew every time. Rows come as the driver reads them
 * (timestamps as Dates; `asDate` takes both).
 */
export class DriverTransaction {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  async rows<T extends object[]>(statement: Sql): Promise<T> {
    const { text, values } = forDriver(statement);
    const result = await this.#client.query({ name: preparedName(text), text, values });
    return result.rows as T;
  }
}

/** Prepared statements' names by text: a connection prepares each once and keeps it. */
const PREPARED = new Map<string, string>();
/** Past it a statement goes unnamed (parsed each time): texts are written in code, so few. */
const PREPARED_MAX = 200;

function preparedName(text: string): string | undefined {
  let name = PREPARED.get(text);
  if (name === undefined && PREPARED.size < PREPARED_MAX) {
    name = `licentric_tx_${PREPARED.size}`;
    PREPARED.set(text, name);
  }
  return name;
}

/**
 * Runs `work` in a transaction on a connection of `pool`: committed when it returns, rolled back
 * when it throws (the connection is dropped if even that fails: it is broken).
 */
export async function inDriverTransaction<T>(pool: pg.Pool, work: (tx: DriverTransaction) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await work(new DriverTransaction(client));
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch((failure: Error) => {
      broken = failure;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Runs a statement written with `sql`, in the ORM's unit of work or a driver's transaction. */
export function execute<T extends object[]>(target: EntityManager | DriverTransaction, statement: Sql): Promise<T> {
  if (target instanceof DriverTransaction) return target.rows<T>(statement);
  return target.execute<T>(statement.text, [...statement.values]);
}

/** A timestamptz SQL expression as the API writes times: ISO 8601, UTC, milliseconds. */
export function isoTimestampSql(expression: Sql): Sql {
  return sql`to_char((${expression}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * A statement for the driver whose text never changes, only some of its parameters (a grouped
 * statement's arrays): `build` makes it once, from a stand-in for each input, and each call puts
 * the inputs where their stand-ins went. Composing the statement from its fragments for every
 * batch was a share of a hot request's allocations.
 */
export function driverTemplate<Inputs extends unknown[]>(
  build: (...inputs: Inputs) => Sql,
  arity: Inputs['length'],
): (...inputs: Inputs) => { text: string; values: unknown[] } {
  const standIns = Array.from({ length: arity }, (_, i) => Symbol(`input ${i}`));
  const { text, values: template } = forDriver(build(...(standIns as Inputs)));
  const at = standIns.map((standIn) => template.indexOf(standIn));
  if (at.includes(-1)) throw new Error('a statement template lost one of its inputs');
  return (...inputs) => {
    const values = [...template];
    for (const [i, input] of inputs.entries()) values[at[i]!] = input;
    return { text, values };
  };
}
