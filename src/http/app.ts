import type { IncomingMessage, RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import proxyAddr from 'proxy-addr';
import type { Clock } from '../core/clock.ts';
import { Lazy } from '../core/lazy.ts';
import type { RateLimits } from '../core/rate-limits.ts';
import type { SecretRing } from '../core/sealing.ts';
import type { Orm } from '../db/orm.ts';
import { openStatementPool } from '../db/statement-pool.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { ValidationLookups } from '../licenses/validation-lookup.ts';
import { HeartbeatBatcher } from '../machines/heartbeat-batch.ts';
import type { Metrics } from '../metrics.ts';
import { activeSigningKey } from '../offline/signing-keys.ts';
import { Services, type SharedServices } from '../services.ts';
import type { AddressPolicy } from '../webhooks/address.ts';
import { type RequestScope, requestContext } from './access-log.ts';
import { mountConsole } from './console.ts';
import { ContractChecker } from './contract.ts';
import { mountDocs } from './docs.ts';
import { loadOpenApiDocument, openApiFile } from './document.ts';
import { mountHealth } from './health.ts';
import { HotPath } from './hot-path.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { mountLanding } from './landing.ts';
import { createPipeline } from './pipeline.ts';
import { problemBody, problemResult } from './problem.ts';
import { RateLimiter } from './rate-limit.ts';
import type { RequestState } from './request-state.ts';
import { ResponseSigner } from './response-signing.ts';
import { type ApiResult, send } from './result.ts';

export const API_BASE = '/api/v1';

export interface AppDeps {
  orm: Orm;
  clock: Clock;
  hasher: KeyHasher;
  /** The server secret: opens the active signing key (signed responses) and seals new ones (rotation). */
  secret: string | SecretRing;
  log: Logger;
  /** Key lookups served from memory; only with a listener keeping it current (auth-cache.ts). */
  authCache?: AuthCache;
  /**
   * Check every API response against the spec and turn a violation into a 500 (and a record in
   * `contractViolations`). The tests switch it on; it costs a schema validation per response.
   */
  checkResponses?: boolean;
  /** True once the server is shutting down: /readyz then answers 503 so load balancers move on. */
  stopping?: () => boolean;
  /** The request budgets; undefined or absent limits are lifted. */
  rateLimits?: RateLimits;
  /** Express's `trust proxy` setting, for the client address behind a load balancer. */
  trustProxy?: boolean | number | string;
  metrics?: Metrics;
  /** Which webhook URLs endpoints may be created with (LICENTRIC_WEBHOOKS_ALLOW_PRIVATE). */
  webhookAddresses?: AddressPolicy;
}

export interface App {
  express: express.Express;
  /** What the HTTP server listens with: the hot path, then Express for everything else. */
  listener: RequestListener;
  /** The hot path, which the listener takes first (its count of answers is the tests'). */
  hotPath: HotPath;
  contractViolations: string[];
  /** The heartbeat group commit: a stopping server flushes it before it closes the pool. */
  heartbeats: HeartbeatBatcher;
  /** Closes the connections of the grouped statements; after the heartbeats are flushed. */
  close(): Promise<void>;
  /** Signs responses for clients that ask; the transport's own refusals use it too. */
  responseSigner: ResponseSigner;
}

/**
 * The first percent-escape of a path that does not decode (`%zz`, a cut-off `%E0%A4%A`, an
 * overlong `%c0%af`), or null. Routing decodes path parameters and would throw on it.
 */
function brokenEscape(path: string): string | null {
  if (!path.includes('%')) return null;
  try {
    decodeURIComponent(path);
    return null;
  } catch {
    for (const segment of path.split('/')) {
      try {
        decodeURIComponent(segment);
      } catch {
        return segment;
      }
    }
    return path;
  }
}

/** A heartbeat's outcome for its metric: the status it answered, or the refusal's code. */
function heartbeatOutcome(result: ApiResult): string {
  const body = result.body as { data?: { heartbeatStatus?: string }; code?: string };
  return body.data?.heartbeatStatus ?? body.code ?? String(result.status);
}

/** The Express shell: request ids and access log, health, the contract and its docs, the API. */
export async function createApp(deps: AppDeps): Promise<App> {
  const contract = deps.checkResponses ? new ContractChecker(loadOpenApiDocument()) : undefined;
  const contractViolations: string[] = [];
  const pool = await deps.orm.em.getConnection().getNativeClient();
  const limiter = deps.rateLimits
    ? new RateLimiter(deps.rateLimits, pool, (limit) => deps.metrics?.rateLimited.inc({ limit }))
    : undefined;
  const idempotency = new IdempotencyKeys(pool, deps.clock, deps.hasher);
  if (deps.metrics) {
    deps.metrics.watchPool(pool);
    deps.metrics.watchMachines(() => deps.orm.em.fork(), deps.clock);
  }
  // The parsed contract is the biggest object the server builds: the pipeline (openapi-backend)
  // keeps only its own dereferenced copy, and the docs read a few fields before it goes.
  const document = loadOpenApiDocument();
  const pipeline = await createPipeline(document, { limiter, idempotency, hasher: deps.hasher });
  const statements = openStatementPool(deps.orm, deps.log);
  const heartbeats = new HeartbeatBatcher(statements);
  const responseSigner = new ResponseSigner({
    load: async () => {
      const active = await activeSigningKey(deps.orm.em.fork(), deps.secret);
      return active && { id: active.key.id, privateKey: active.privateKey };
    },
    clock: deps.clock,
    log: deps.log,
  });
  // Read once now, so no signed response waits for it.
  await responseSigner.refresh();
  const validations = new ValidationLookups(statements);
  const shared: SharedServices = {
    authCache: deps.authCache,
    heartbeats,
    validations,
    webhookAddresses: deps.webhookAddresses,
    secret: deps.secret,
    pool,
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', false);
  app.set('etag', false);
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);

  app.use(requestContext(deps.log, deps.metrics));
  app.use((req, res, next) => {
    const broken = brokenEscape(req.path);
    if (broken === null) return next();
    const detail = `The path holds ${JSON.stringify(broken)}, which is not a percent-encoded UTF-8 character; encode "%" itself as %25.`;
    send(res, problemResult(problemBody('MALFORMED_REQUEST', detail, res.locals.requestId as string)), responseSigner);
  });
  // The landing's `GET /api/v1` before the API, which would answer it as an unknown operation;
  // the API before every other page, so an API request does not try each of their routes first.
  const info = document.info as { title: string; version: string };
  mountLanding(app, { title: info.title, version: info.version, apiBase: API_BASE });

  // Acting for no one until authentication says who (pipeline.ts, `servicesFor`).
  const servicesOfRequest = () =>
    new Services(
      Lazy.of(() => deps.orm.em.fork()),
      deps.clock,
      deps.hasher,
      null,
      shared,
    );
  // What every API answer passes through before it is sent, through Express or the hot path: the
  // contract check (the tests) and the heartbeat metric.
  const checked = (state: RequestState, result: ApiResult): ApiResult => {
    const answer =
      contract && state.operation
        ? contract.enforce(state.operation, result, state.requestId, state.log, contractViolations)
        : result;
    if (state.operationId === 'pingMachineHeartbeat')
      deps.metrics?.heartbeats.inc({ outcome: heartbeatOutcome(answer) });
    return answer;
  };
  app.use(API_BASE, async (req, res) => {
    const clientIp = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const { result, state } = await pipeline.handle(req, {
      scope: res.locals.scope as RequestScope,
      services: servicesOfRequest(),
      clientIp,
    });
    res.locals.operationId = state.operationId;
    send(res, checked(state, result), responseSigner);
  });

  mountHealth(app, deps.orm, responseSigner, deps.stopping);
  // Straight from the generated files: their text is large, and the server need not hold it.
  app.get('/openapi.yaml', (_req, res) => {
    res.setHeader('Content-Type', 'application/yaml; charset=utf-8').sendFile(openApiFile('yaml'));
  });
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').sendFile(openApiFile('json'));
  });
  mountDocs(app, document, info.title);
  mountConsole(app);

  app.use((req, res) => {
    send(
      res,
      problemResult(
        problemBody(
          'NOT_FOUND',
          `Nothing at ${req.path}; the API is under ${API_BASE}.`,
          res.locals.requestId as string,
        ),
      ),
      responseSigner,
    );
  });

  const hotPath = new HotPath({
    pipeline,
    log: deps.log,
    services: servicesOfRequest,
    clientIp: clientIpOf(app),
    signer: responseSigner,
    metrics: deps.metrics,
    checked,
  });
  return {
    express: app,
    listener: hotPath.listener(app),
    hotPath,
    contractViolations,
    heartbeats,
    responseSigner,
    close: () => statements.end(),
  };
}

/** A request's client address as Express's `req.ip` reads it, by the app's `trust proxy` setting. */
function clientIpOf(app: express.Express): (req: IncomingMessage) => string {
  const trust = app.get('trust proxy fn') as Parameters<typeof proxyAddr>[1];
  return (req) => proxyAddr(req, trust) ?? req.socket.remoteAddress ?? 'unknown';
}
