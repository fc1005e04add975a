import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Orm } from '../db/orm.ts';
import { execute, sql } from '../db/sql.ts';
import { problemBody, problemResult } from './problem.ts';
import { send } from './result.ts';

/**
 * `/healthz` answers while the process runs (for restarts); `/readyz` also reaches the database
 * (for load balancers), and says 503 when it cannot.
 */
export function mountHealth(app: Express, orm: Orm): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await execute(orm.em.fork(), sql`select 1`);
      res.json({ status: 'ok' });
    } catch (error) {
      (res.locals.log as Logger).warn({ err: error }, 'database not reachable');
      send(res, problemResult(problemBody('SERVICE_UNAVAILABLE', 'The database is not reachable.', res.locals.requestId as string)));
    }
  });
}
