import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { OpenAPIBackend, type Context } from 'openapi-backend';
import type { Logger } from 'pino';
import type { RateLimits } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import { parseTraceparent } from '../core/trace.ts';
import { DomainError, FingerprintTaken, InvalidInput } from '../core/errors.ts';
import type { Orm } from '../db/orm.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { Services } from '../services.ts';
import { createAjv } from './ajv.ts';
import { ContractChecker } from './contract.ts';
import { loadOpenApiDocument } from './document.ts';
import { mountDocs } from './docs.ts';
import { forValidation } from './openapi-definition.ts';
import { apiKeyHandlers } from './handlers/api-keys.ts';
import { licenseHandlers } from './handlers/licenses.ts';
import { machineHandlers } from './handlers/machines.ts';
import { policyHandlers } from './handlers/policies.ts';
import { IdempotencyKeys } from './idempotency.ts';
import type { Metrics } from './metrics.ts';
import { HttpProblem, problemBody, type ProblemBody } from './problem.ts';
import { RateLimiter } from './rate-limit.ts';
import { mediaTypeMatches, readRawBody } from './request-body.ts';
import type { RequestState } from './request-state.ts';
import { assertScopes, principalOf, securityHandlers, unauthorized } from './security.ts';
import type { HandlerContext, Handlers, OperationId, SuccessResponse } from './types.ts';

export const API_BASE = '/api/v1';

export interface AppDeps {
  orm: Orm;
  clock: Clock;
  hasher: KeyHasher;
  log: Logger;
  /**
   * Check every API response against the spec and turn a violation into a 500 (and a record in
   * `contractViolations`). The tests switch it on; it costs a schema validation per response.
   */
  checkResponses?: boolean;
  /** The request budgets; undefined or absent limits are lifted. */
  rateLimits?: RateLimits;
  /** Express's `trust proxy` setting, for the client address behind a load balancer. */
  trustProxy?: boolean | number | string;
  metrics?: Metrics;
}

export interface App {
  express: express.Express;
  contractViolations: string[];
}

const handlers: Handlers = {
  ...machineHandlers,
  ...policyHandlers,
  ...licenseHandlers,
  ...apiKeyHandlers,
};

/** A client's own request id is echoed only when it is short and plain enough to log safely. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

interface ApiResult {
  status: number;
  body: unknown;
  contentType: string;
  headers?: Record<string, string>;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function problemResult(problem: ProblemBody, headers: Record<string, string> = {}): ApiResult {
  return { status: problem.status, body: problem, contentType: 'application/problem+json', headers };
}

/** Maps anything a request can throw to its one problem response. */
function toProblem(error: unknown, state: { requestId: string; log: Logger }): ApiResult {
  if (error instanceof InvalidInput) {
    return problemResult(problemBody(error.code, 'The request breaks the rules of this operation.', state.requestId, { errors: error.errors }));
  }
  if (error instanceof FingerprintTaken) {
    return problemResult(problemBody(error.code, error.message, state.requestId, { machineId: error.machineId }));
  }
  if (error instanceof DomainError || error instanceof HttpProblem) {
    return problemResult(problemBody(error.code, error.message, state.requestId), error instanceof HttpProblem ? error.headers : {});
  }
  state.log.error({ err: error }, 'request failed');
  return problemResult(problemBody('INTERNAL_ERROR', 'The server failed to handle the request; it has been logged.', state.requestId));
}

/** Ajv's errors as problem pointers: into the body (`/fingerprint`) or at a parameter (`/query/limit`). */
function fieldErrors(context: Context): { pointer: string; message: string }[] {
  return (context.validation.errors ?? []).map((error) => {
    let pointer = error.instancePath.replace(/^\/requestBody/, '');
    const params = error.params as { missingProperty?: string; additionalProperty?: string };
    if (error.keyword === 'required' && params.missingProperty) pointer += `/${params.missingProperty}`;
    if (error.keyword === 'additionalProperties' && params.additionalProperty) pointer += `/${params.additionalProperty}`;
    const message =
      error.keyword === 'additionalProperties' ? 'is not a known parameter' : error.keyword === 'required' ? 'is required' : (error.message ?? 'is invalid');
    return { pointer, message };
  });
}

/** Whether the operation declares the `Idempotency-Key` header: creating and acting POSTs. */
function takesIdempotencyKey(operation: RequestState['operation']): boolean {
  return (operation?.parameters ?? []).some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key');
}

function heartbeatOutcome(result: ApiResult): string {
  const body = result.body as { data?: { heartbeatStatus?: string }; code?: string };
  return body.data?.heartbeatStatus ?? body.code ?? String(result.status);
}

export async function createApp(deps: AppDeps): Promise<App> {
  const document = loadOpenApiDocument();
  const contract = deps.checkResponses ? new ContractChecker(document.json) : undefined;
  const contractViolations: string[] = [];

  const { definition, bodyMediaTypes } = forValidation(document.json);
  const pool = await deps.orm.em.getConnection().getNativeClient();
  const limiter = deps.rateLimits ? new RateLimiter(deps.rateLimits, pool, (limit) => deps.metrics?.rateLimited.inc({ limit })) : undefined;
  const idempotency = new IdempotencyKeys(pool, deps.clock, deps.hasher);
  if (deps.metrics) {
    deps.metrics.watchPool(pool);
    deps.metrics.watchMachines(() => deps.orm.em.fork(), deps.clock);
  }
  const api = new OpenAPIBackend({
    definition: definition as never,
    strict: true,
    quick: true,
    validate: true,
    coerceTypes: true,
    customizeAjv: (_original, options) => createAjv(options as Record<string, unknown>) as never,
  });

  for (const [name, handler] of Object.entries(securityHandlers)) {
    api.registerSecurityHandler(name, (context: Context, state: RequestState) => handler(context, state));
  }

  api.register({
    postRoutingHandler: async (context: Context, state: RequestState) => {
      state.operation = context.operation as unknown as RequestState['operation'];
      state.operationId = context.operation?.operationId;
      if (state.operation) await limiter?.beforeAuthentication(state.clientIp);
    },
    notFound: (_c: Context, state: RequestState) => {
      throw new HttpProblem('NOT_FOUND', `No API operation at ${state.request.path}.`);
    },
    methodNotAllowed: (_c: Context, state: RequestState) => {
      const allowed = ['get', 'post', 'put', 'patch', 'delete']
        .filter((method) => api.router.matchOperation({ ...state.request, method } as never) !== undefined)
        .map((method) => method.toUpperCase());
      throw new HttpProblem('METHOD_NOT_ALLOWED', `${state.request.method} is not allowed here; use ${allowed.join(', ')}.`, {
        Allow: allowed.join(', '),
      });
    },
    unauthorizedHandler: async (context: Context, state: RequestState) => {
      if (state.invalidCredentials) await limiter?.authenticationFailed(state.clientIp);
      throw unauthorized(context, state);
    },
    // Runs after authentication and before validation: scopes, then the body (413, 415, JSON).
    postSecurityHandler: async (context: Context, state: RequestState) => {
      if (!context.security.authorized) return;
      const principal = principalOf(context);
      if (principal) await limiter?.afterAuthentication(principal);
      if (principal) assertScopes(context, principal);

      const declared = bodyMediaTypes.get(context.operation.operationId!);
      if (!declared) return;
      if (state.rawBody.tooLarge) throw new HttpProblem('PAYLOAD_TOO_LARGE', 'The request body is larger than 64 KiB.');
      const contentType = state.request.headers['content-type'] as string | undefined;
      if ((state.rawBody.bytes !== undefined || contentType !== undefined) && !mediaTypeMatches(contentType, declared)) {
        throw new HttpProblem('UNSUPPORTED_MEDIA_TYPE', `The request body must be ${declared.join(' or ')}.`);
      }
      if (state.rawBody.bytes !== undefined) {
        try {
          state.request.body = JSON.parse(state.rawBody.bytes.toString('utf8'));
        } catch (error) {
          throw new HttpProblem('MALFORMED_JSON', `The request body is not valid JSON: ${(error as Error).message}`);
        }
      }
    },
    validationFail: (context: Context) => {
      const errors = fieldErrors(context);
      throw new InvalidInput(errors.length > 0 ? errors : [{ pointer: '', message: 'is invalid' }]);
    },
  });

  for (const [operationId, handler] of Object.entries(handlers) as [OperationId, Handlers[OperationId]][]) {
    api.register(operationId, async (context: Context, state: RequestState): Promise<ApiResult> => {
      const principal = principalOf(context);
      if (!principal) throw new HttpProblem('INTERNAL_ERROR', 'authorized without a principal');
      const ctx = {
        body: context.request.requestBody,
        query: context.request.query,
        path: context.request.params,
        principal,
        services: state.services,
        requestId: state.requestId,
        log: state.log,
      } as HandlerContext<typeof operationId>;
      const execute = async (): Promise<ApiResult> => {
        const result = (await (handler as (c: typeof ctx) => Promise<SuccessResponse<typeof operationId>>)(ctx)) as {
          status: number;
          body: unknown;
        };
        return { status: result.status, body: result.body, contentType: 'application/json' };
      };
      const key = state.request.headers['idempotency-key'];
      if (typeof key !== 'string' || !takesIdempotencyKey(state.operation)) return execute();
      const fingerprint = IdempotencyKeys.fingerprint(operationId, { path: ctx.path, query: ctx.query, body: ctx.body });
      return idempotency.run(IdempotencyKeys.scopeOf(principal), key, fingerprint, execute);
    });
  }

  await api.init();

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', false);
  app.set('etag', false);
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);

  // Request id and one access-log line per request.
  app.use((req, res, next) => {
    const offered = req.headers['x-request-id'];
    const requestId = typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    const trace = parseTraceparent(req.headers.traceparent);
    const log = deps.log.child(trace ? { requestId, traceId: trace.traceId, parentSpanId: trace.parentSpanId } : { requestId });
    res.locals.requestId = requestId;
    res.locals.log = log;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const operation = (res.locals.operationId as string | undefined) ?? 'none';
      deps.metrics?.requests.inc({ operation, status: res.statusCode });
      deps.metrics?.latency.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
      log.info(
        {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          operationId: res.locals.operationId,
        },
        'request',
      );
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await deps.orm.em.fork().execute('select 1');
      res.json({ status: 'ok' });
    } catch (error) {
      (res.locals.log as Logger).warn({ err: error }, 'database not reachable');
      send(res, problemResult(problemBody('SERVICE_UNAVAILABLE', 'The database is not reachable.', res.locals.requestId as string)));
    }
  });

  app.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(document.yaml);
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(document.json);
  });
  const info = document.json.info as { title: string; version: string };
  mountDocs(app, document.json, { title: info.title, version: info.version, apiBase: API_BASE });

  app.use(API_BASE, async (req: Request, res: Response) => {
    const requestId = res.locals.requestId as string;
    const log = res.locals.log as Logger;
    const queryAt = req.originalUrl.indexOf('?');
    const state: RequestState = {
      requestId,
      log,
      services: new Services(deps.orm.em.fork(), deps.clock, deps.hasher),
      rawBody: { bytes: undefined, tooLarge: false },
      request: {
        // HEAD is GET without a body; Node drops the body itself.
        method: req.method === 'HEAD' ? 'GET' : req.method,
        path: req.path,
        query: queryAt === -1 ? '' : req.originalUrl.slice(queryAt + 1),
        headers: req.headers as Record<string, string | string[]>,
      },
      invalidCredentials: false,
      clientIp: req.ip ?? req.socket.remoteAddress ?? 'unknown',
    };
    let result: ApiResult;
    try {
      state.rawBody = await readRawBody(req);
      result = (await api.handleRequest(state.request as never, state)) as ApiResult;
    } catch (error) {
      result = toProblem(error, state);
    }
    if (contract && state.operation) {
      const headers = { 'x-request-id': requestId, ...lowerCaseKeys(result.headers ?? {}) };
      const violations = contract.check(state.operation, result.status, result.contentType, result.body, headers);
      if (violations.length > 0) {
        contractViolations.push(...violations);
        log.error({ violations }, 'response breaks the contract');
        result = problemResult(problemBody('INTERNAL_ERROR', `The response broke the API contract: ${violations.join('; ')}`, requestId));
      }
    }
    res.locals.operationId = state.operationId;
    if (state.operationId === 'pingMachineHeartbeat') deps.metrics?.heartbeats.inc({ outcome: heartbeatOutcome(result) });
    send(res, result);
  });

  app.use((req, res) => {
    send(res, problemResult(problemBody('NOT_FOUND', `Nothing at ${req.path}; the API is under ${API_BASE}.`, res.locals.requestId as string)));
  });

  return { express: app, contractViolations };

  function send(res: Response, result: ApiResult): void {
    res.status(result.status);
    for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
    res.type(result.contentType);
    res.send(JSON.stringify(result.body));
  }
}
