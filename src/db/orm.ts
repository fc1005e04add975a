import { Migrator } from '@mikro-orm/migrations';
import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { ApiKey } from '../keys/api-key.entity.ts';
import { License } from '../licenses/license.entity.ts';
import { Machine } from '../machines/machine.entity.ts';
import { Policy } from '../policies/policy.entity.ts';
import { Migration20261127000000_initial } from './migrations/Migration20261127000000_initial.ts';
import { Migration20261127010000_management } from './migrations/Migration20261127010000_management.ts';
import { Migration20261127020000_heartbeats } from './migrations/Migration20261127020000_heartbeats.ts';
import { Migration20261129000000_abuse } from './migrations/Migration20261129000000_abuse.ts';
import { Migration20261129000000_events } from './migrations/Migration20261129000000_events.ts';
import { Migration20261129000000_hot_paths } from './migrations/Migration20261129000000_hot_paths.ts';
import { Migration20261129010000_webhooks } from './migrations/Migration20261129010000_webhooks.ts';
import { Migration20261204010000_entitlements } from './migrations/Migration20261204010000_entitlements.ts';
import { execute, sql } from './sql.ts';

export type Orm = MikroORM;
export type { EntityManager };

export interface OrmOptions {
  clientUrl: string;
  log: Logger;
  /** Connections in the pool; the default suits one API process. */
  poolSize?: number;
  /** Bounds on every database call, so no request waits on the database for ever (ms). */
  acquireTimeoutMs?: number;
  statementTimeoutMs?: number;
}

/** The defaults of the settings (config.ts), and for callers that pass none (tests, benchmarks). */
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 5000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/**
 * The one way the server, the worker, the CLI and the tests open the database. Migrations are
 * listed here rather than discovered from a folder, so the same list works from `src/` under
 * Node's type stripping and from a compiled `dist/`.
 */
export async function initOrm(options: OrmOptions): Promise<Orm> {
  return MikroORM.init({
    clientUrl: options.clientUrl,
    entities: [Policy, License, ApiKey, Machine],
    extensions: [Migrator],
    migrations: {
      tableName: 'mikro_orm_migrations',
      snapshot: false,
      silent: true,
      migrationsList: [
        { name: 'Migration20261127000000_initial', class: Migration20261127000000_initial },
        { name: 'Migration20261127010000_management', class: Migration20261127010000_management },
        { name: 'Migration20261127020000_heartbeats', class: Migration20261127020000_heartbeats },
        { name: 'Migration20261129000000_abuse', class: Migration20261129000000_abuse },
        { name: 'Migration20261129000000_events', class: Migration20261129000000_events },
        { name: 'Migration20261129010000_webhooks', class: Migration20261129010000_webhooks },
        { name: 'Migration20261129000000_hot_paths', class: Migration20261129000000_hot_paths },
        { name: 'Migration20261204010000_entitlements', class: Migration20261204010000_entitlements },
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
 * left to do.
 */
export async function migrate(orm: Orm): Promise<string[]> {
  return orm.em.fork().transactional(async (em) => {
    // A migration may rewrite a large table: the per-request statement bound does not apply.
    await execute(em, sql`set local statement_timeout = 0`);
    await execute(em, sql`select pg_advisory_xact_lock(${MIGRATION_LOCK.toString()})`);
    const applied = await orm.migrator.up({ transaction: em.getTransactionContext() });
    return applied.map((m) => m.name);
  });
}
