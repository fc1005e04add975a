import express from 'express';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { Orm } from '../db/orm.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { HeartbeatBatcher } from '../machines/heartbeat-batch.ts';
import { Services } from '../services.ts';
import { requestContext } from './access-log.ts';
import { ContractChecker } from './contract.ts';
import { mountDocs } from './docs.ts';
import { loadOpenApiDocument } from './document.ts';
import { mountHealth } from './health.ts';
import { createPipeline } from './pipeline.ts';
import { problemBody, problemResult } from './problem.ts';
import { send } from './result.ts';

export const API_BASE = '/api/v1';

export interface AppDeps {
  orm: Orm;
  clock: Clock;
  hasher: KeyHasher;
  log: Logger;
  /** Key lookups served from memory; only with a listener keeping it current (auth-cache.ts). */
  authCache?: AuthCache;
  /**
   * Check every API response against the spec and turn a violation into a 500 (and a record in
   * `contractViolations`). The tests switch it on; it costs a schema validation per response.
   */
  checkResponses?: boolean;
}

export interface App {
  express: express.Express;
  contractViolations: string[];
}

/** The Express shell: request ids and access log, health, the contract and its docs, the API. */
export async function createApp(deps: AppDeps): Promise<App> {
  const document = loadOpenApiDocument();
  const contract = deps.checkResponses ? new ContractChecker(document.json) : undefined;
  const contractViolations: string[] = [];
  const pipeline = await createPipeline(document.json);
  const shared = { authCache: deps.authCache, heartbeats: new HeartbeatBatcher(() => deps.orm.em.fork()) };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', false);
  app.set('etag', false);

  app.use(requestContext(deps.log));
  mountHealth(app, deps.orm);

  app.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(document.yaml);
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(document.json);
  });
  const info = document.json.info as { title: string; version: string };
  mountDocs(app, document.json, { title: info.title, version: info.version, apiBase: API_BASE });

  app.use(API_BASE, async (req, res) => {
    const requestId = res.locals.requestId as string;
    const log = res.locals.log as Logger;
    const services = new Services(deps.orm.em.fork(), deps.clock, deps.hasher, shared);
    let { result, state } = await pipeline.handle(req, { requestId, log, services });
    if (contract && state.operation) result = contract.enforce(state.operation, result, requestId, log, contractViolations);
    res.locals.operationId = state.operationId;
    send(res, result);
  });

  app.use((req, res) => {
    send(res, problemResult(problemBody('NOT_FOUND', `Nothing at ${req.path}; the API is under ${API_BASE}.`, res.locals.requestId as string)));
  });

  return { express: app, contractViolations };
}
