import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findPgClient } from '../../src/db/backup.ts';
import type { Orm } from '../../src/db/orm.ts';

const run = promisify(execFile);

/**
 * The whole database as `pg_dump` writes it (plain SQL: the schema and every row of every table),
 * made by PostgreSQL's own pg_dump of the server's major version (`make pg-client`, which
 * `make unit` runs first), and the tables it covers.
 */
export async function dumpDatabase(orm: Orm): Promise<{ tables: string[]; text: string }> {
  const connection = orm.em.fork().getConnection();
  const tables = (
    await connection.execute<{ name: string }[]>(
      `select format('%I.%I', schemaname, tablename) as name from pg_tables
        where schemaname not in ('pg_catalog', 'information_schema')`,
    )
  ).map((t) => t.name);
  const [{ name, version }] = await connection.execute<[{ name: string; version: string }]>(
    "select current_database() as name, current_setting('server_version_num') as version",
  );
  const url = new URL(orm.config.get('clientUrl') as string);
  url.pathname = `/${encodeURIComponent(name)}`;
  const password = decodeURIComponent(url.password);
  url.password = '';
  const client = await findPgClient(Math.floor(Number(version) / 10_000), process.env.LICENTRIC_PG_BIN);
  const { stdout } = await run(client.pgDump, ['--format=plain', '--no-owner', url.toString()], {
    env: { ...process.env, PGPASSWORD: password },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { tables, text: stdout };
}

/** The forms a secret's bytes could take in a dump: hex, base64 and base64url. */
export function encodings(bytes: Buffer): string[] {
  return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
}
