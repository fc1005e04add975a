import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedDatabase, startEmbeddedDatabase } from '../src/db/embedded.ts';
import { initOrm, migrate } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { createLogger } from '../src/log.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL of the test PostgreSQL server, any database; test files create their own. */
    serverUrl: string;
    /** A migrated, empty database to clone per test file. */
    templateDatabase: string;
    /** The name prefix of this run's per-file databases, which teardown drops. */
    databasePrefix: string;
  }
}

/**
 * One real PostgreSQL for the whole run: the embedded one in a throw-away folder, or the server
 * of DATABASE_URL when set. The schema is migrated once into a template that each test file
 * clones (CREATE DATABASE … TEMPLATE), which takes milliseconds.
 */
export default async function setup(project: TestProject) {
  const log = createLogger('warn', process.stderr);
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'licentric-test-'));
    embedded = await startEmbeddedDatabase(dataDir, log);
    serverUrl = embedded.url;
  }

  const templateDatabase = `licentric_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${templateDatabase}`);
  await admin.query(`create database ${templateDatabase}`);

  const templateUrl = new URL(serverUrl);
  templateUrl.pathname = `/${templateDatabase}`;
  const orm = await initOrm({ clientUrl: templateUrl.toString(), entities: ENTITIES, log, poolSize: 2 });
  await migrate(orm);
  await orm.close();

  project.provide('serverUrl', serverUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('databasePrefix', `licentric_test_${process.pid}_`);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname = $1 or datname like 'licentric_test_${process.pid}_%'`,
      [templateDatabase],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.end();
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
