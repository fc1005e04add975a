import pg from 'pg';
import type { Logger } from 'pino';
import type { Orm } from './orm.ts';

/**
 * The connections the grouped hot-path statements (validation reads, heartbeat writes) run on,
 * apart from the ORM's pool. Each group statement keeps one statement in flight, so two
 * connections serve both, and they never queue behind admin requests for a pooled connection.
 *
 * On these connections PostgreSQL plans each prepared statement once and reuses the plan
 * (`plan_cache_mode=force_generic_plan`). Left to choose, it plans the statement again on every
 * execution: a custom plan for the actual arrays (one to a few elements under a normal load)
 * always looks cheaper than the generic plan's guess of ten, so the generic plan is never picked,
 * and planning the validation statement costs more than running it (`bench/plans`). The statements
 * are written for index probes whatever the batch size; test/statement-plans.test.ts holds their
 * generic plans to that.
 */
export function openStatementPool(orm: Orm, log: Logger): pg.Pool {
  const driver = orm.config.get('driverOptions') as { connectionTimeoutMillis?: number; statement_timeout?: number };
  const pool = new pg.Pool({
    connectionString: orm.config.get('clientUrl'),
    max: 2,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: driver.connectionTimeoutMillis,
    statement_timeout: driver.statement_timeout,
    options: '-c plan_cache_mode=force_generic_plan',
  });
  // An idle connection that PostgreSQL drops (a restart, an outage) is reported here; without a
  // listener the process would exit. The next statement opens a new one or fails as a 503.
  pool.on('error', (error) => log.warn({ err: error }, 'statement pool connection lost'));
  return pool;
}
