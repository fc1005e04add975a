import type { Express } from 'express';
import type { Orm } from '../db/orm.ts';
import type { RequestScope } from './access-log.ts';
import { problemBody, problemResult } from './problem.ts';
import type { ResponseSigner } from './response-signing.ts';
import { send } from './result.ts';
import { readiness } from './unavailable.ts';

/**
 * `/healthz` answers while the process runs (for restarts); `/readyz` also reaches the database
 * (for load balancers), and says 503 when it cannot or when the server is stopping.
 */
export function mountHealth(app: Express, orm: Orm, signer: ResponseSigner, stopping?: () => boolean): void {
  const ok = { status: 200, body: { status: 'ok' }, contentType: 'application/json' };
  app.get('/healthz', (_req, res) => {
    send(res, ok, signer);
  });

  app.get('/readyz', async (_req, res) => {
    const problem = await readiness(orm, (res.locals.scope as RequestScope).log, stopping);
    if (problem)
      send(
        res,
        problemResult(
          problemBody('SERVICE_UNAVAILABLE', problem.detail, res.locals.requestId as string),
          problem.headers,
        ),
        signer,
      );
    else send(res, ok, signer);
  });
}
