import { Migrator } from '@mikro-orm/migrations';
import { type EntityManager, MikroORM, type Options } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { Migration20261127000000_initial } from './migrations/Migration20261127000000_initial.ts';
import { Migration20261127010000_management } from './migrations/Migration20261127010000_management.ts';
import { Migration20261127020000_heartbeats } from './migrations/Migration20261127020000_heartbeats.ts';
import { Migration20261129000000_abuse } from './migrations/Migration20261129000000_abuse.ts';
import { Migration20261129000100_events } from './migrations/Migration20261129000100_events.ts';
import { Migration20261129010000_webhooks } from './migrations/Migration20261129010000_webhooks.ts';
import { Migration20261129020000_hot_paths } from './migrations/Migration20261129020000_hot_paths.ts';
import { Migration20261204000000_products } from './migrations/Migration20261204000000_products.ts';
import { Migration20261204010000_entitlements } from './migrations/Migration20261204010000_entitlements.ts';
import { Migration20261204020000_limits } from './migrations/Migration20261204020000_limits.ts';
import { Migration20261204030000_expiry } from './migrations/Migration20261204030000_expiry.ts';
import { Migration20261205000000_signing_keys } from './migrations/Migration20261205000000_signing_keys.ts';
import { Migration20261206000000_signing_key_revocation } from './migrations/Migration20261206000000_signing_key_revocation.ts';
import { Migration20261206010000_check_out } from './migrations/Migration20261206010000_check_out.ts';

import { Migration20261206020000_processes } from './migrations/Migration20261206020000_processes.ts';
import { Migration20261207000000_event_actors } from './migrations/Migration20261207000000_event_actors.ts';
import { Migration20261207010000_secrets_at_rest } from './migrations/Migration20261207010000_secrets_at_rest.ts';
import { Migration20261207020000_console } from './migrations/Migration20261207020000_console.ts';
import { Migration20261207030000_retention } from './migrations/Migration20261207030000_retention.ts';
import { execute, sql } from './sql.ts';

export type Orm = MikroORM;
export type { EntityManager };

export interface OrmOptions {
  clientUrl: string;
  log: Logger;
  /** The entities to map: `ENTITIES` (src/entities.ts), which the layers above this one list. */
  entities: NonNullable<Options['entities']>;
  /** Connections in the pool; the default suits one API process. */
  poolSize?: number;
  /** Bounds on every database call, so no request waits on the database for ever (ms). */
  acquireTimeoutMs?: number;
  statementTimeoutMs?: number;
}

/** The defaults of the settings (config.ts), and for callers that pass none (tests, benchmarks). */
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 5000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/** Where MikroORM records each migration it ran, by name. */
const MIGRATIONS_TABLE = 'mikro_orm_migrations';

/**
 * Migrations that were recorded under another name, by their name now. MikroORM knows a
 * migration by its name alone, so a database migrated before a rename would run the migration
 * again; `migrate` rewrites the old names first. An entry stays as long as a database may
 * still hold its old name.
 */
export const RENAMED_MIGRATIONS: Readonly<Record<string, string>> = {
  // Renamed so that their names sort in the order the list runs them.
  Migration20261129000000_events: 'Migration20261129000100_events',
  Migration20261129000000_hot_paths: 'Migration20261129020000_hot_paths',
};

/**
 * The one way the server, the worker, the CLI and the tests open the database. Migrations are
 * listed here rather than discovered from a folder, so the same list works from `src/` under
 * Node's type stripping and from a compiled `dist/`. They run in the order listed, which is the
 * order of their names: a new one takes a later timestamp than every other and goes last.
 */
export async function initOrm(options: OrmOptions): Promise<Orm> {
  return MikroORM.init({
    clientUrl: options.clientUrl,
    entities: options.entities,
    extensions: [Migrator],
    migrations: {
      tableName: MIGRATIONS_TABLE,
      snapshot: false,
      silent: true,
      migrationsList: [
        { name: 'Migration20261127000000_initial', class: Migration20261127000000_initial },
        { name: 'Migration20261127010000_management', class: Migration20261127010000_management },
        { name: 'Migration20261127020000_heartbeats', class: Migration20261127020000_heartbeats },
        { name: 'Migration20261129000000_abuse', class: Migration20261129000000_abuse },
        { name: 'Migration20261129000100_events', class: Migration20261129000100_events },
        { name: 'Migration20261129010000_webhooks', class: Migration20261129010000_webhooks },
        { name: 'Migration20261129020000_hot_paths', class: Migration20261129020000_hot_paths },
        { name: 'Migration20261204000000_products', class: Migration20261204000000_products },
        { name: 'Migration20261204010000_entitlements', class: Migration20261204010000_entitlements },
        { name: 'Migration20261204020000_limits', class: Migration20261204020000_limits },
        { name: 'Migration20261204030000_expiry', class: Migration20261204030000_expiry },
        { name: 'Migration20261205000000_signing_keys', class: Migration20261205000000_signing_keys },
        {
          name: 'Migration20261206000000_signing_key_revocation',
          class: Migration20261206000000_signing_key_revocation,
        },
        { name: 'Migration20261206010000_check_out', class: Migration20261206010000_check_out },
        { name: 'Migration20261206020000_processes', class: Migration20261206020000_processes },
        { name: 'Migration20261207000000_event_actors', class: Migration20261207000000_event_actors },
        { name: 'Migration20261207010000_secrets_at_rest', class: Migration20261207010000_secrets_at_rest },
        { name: 'Migration20261207020000_console', class: Migration20261207020000_console },
        { name: 'Migration20261207030000_retention', class: Migration20261207030000_retention },
      ],
    },
    // At least two: the migrator takes a connection of its own beside the one holding the migration lock.
    pool: { min: 0, max: Math.max(2, options.poolSize ?? 10), idleTimeoutMillis: 30_000 },
    driverOptions: {
      // Waiting for a pooled connection, or for a new one to connect: past it, a 503.
      connectionTimeoutMillis: options.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS,
      // PostgreSQL cancels a statement past it (57014, a 503); migrations lift it for themselves.
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    },
    // Every query carries its own context; nothing may silently share the global identity map.
    allowGlobalContext: false,
    ensureDatabase: false,
    debug: options.log.isLevelEnabled('trace'),
    logger: (message) => options.log.trace({ orm: message }, 'orm'),
  });
}

/** Any 64-bit number fixed for this purpose: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x4c4943454e5452n; // "LICENTR"

/**
 * Brings the schema up to date. Several processes may start at once (API replicas, a worker);
 * a transaction-level advisory lock makes the second wait for the first and then find nothing
 * left to do. `seed` runs last in the same transaction, under the same lock: rows SQL alone
 * cannot make (the first signing key, encrypted under the server secret) are made there
 * exactly once however many processes start together.
 */
export async function migrate(orm: Orm, seed?: (em: EntityManager) => Promise<void>): Promise<string[]> {
  return orm.em.fork().transactional(async (em) => {
    // A migration may rewrite a large table: the per-request statement bound does not apply.
    await execute(em, sql`set local statement_timeout = 0`);
    await execute(em, sql`select pg_advisory_xact_lock(${MIGRATION_LOCK.toString()})`);
    await renameRecordedMigrations(em);
    const applied = await orm.migrator.up({ transaction: em.getTransactionContext() });
    await seed?.(em);
    return applied.map((m) => m.name);
  });
}

/** Rewrites the names of migrations recorded before they were renamed (`RENAMED_MIGRATIONS`). */
async function renameRecordedMigrations(em: EntityManager): Promise<void> {
  const [table] = await execute<{ present: boolean }[]>(
    em,
    sql`select to_regclass(${MIGRATIONS_TABLE}) is not null as present`,
  );
  if (!table?.present) return;
  const renames = Object.entries(RENAMED_MIGRATIONS).map(([from, to]) => sql`(${from}, ${to})`);
  await execute(
    em,
    sql`update ${sql.raw(MIGRATIONS_TABLE)} m set name = r.renamed
          from (values ${sql.join(renames, ', ')}) as r (recorded, renamed)
         where m.name = r.recorded`,
  );
}
