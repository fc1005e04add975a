import type { Orm } from '../../src/db/orm.ts';

/**
 * Every row of every table, one per line, in the text form pg_dump's data takes (COPY's text:
 * a row's text is the same, bytea as \x hex). A pg_dump binary of the server's major version is
 * not at hand in the tests; this reads the same values.
 */
export async function dumpDatabase(orm: Orm): Promise<{ tables: string[]; text: string }> {
  const connection = orm.em.fork().getConnection();
  const tables = (
    await connection.execute<{ name: string }[]>(
      `select format('%I.%I', schemaname, tablename) as name from pg_tables
        where schemaname not in ('pg_catalog', 'information_schema')`,
    )
  ).map((t) => t.name);
  let text = '';
  for (const name of tables) {
    const [row] = await connection.execute<{ text: string | null }[]>(
      `select string_agg(t::text, E'\\n') as text from ${name} t`,
    );
    text += `${row!.text ?? ''}\n`;
  }
  return { tables, text };
}

/** The forms a secret's bytes could take in a dump: hex, base64 and base64url. */
export function encodings(bytes: Buffer): string[] {
  return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
}
