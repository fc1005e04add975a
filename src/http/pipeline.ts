import { createRequire } from 'node:module';
import type { Request } from 'express';
import { type Context, OpenAPIBackend } from 'openapi-backend';
import type { Logger } from 'pino';
import { InvalidInput } from '../core/errors.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import type { Services } from '../services.ts';
import { createAjv } from './ajv.ts';
import { fieldErrors } from './field-errors.ts';
import { apiKeyHandlers } from './handlers/api-keys.ts';
import { checkOutHandlers } from './handlers/check-out.ts';
import { entitlementHandlers } from './handlers/entitlements.ts';
import { eventHandlers } from './handlers/events.ts';
import { licenseHandlers } from './handlers/licenses.ts';
import { machineHandlers } from './handlers/machines.ts';
import { policyHandlers } from './handlers/policies.ts';
import { processHandlers } from './handlers/processes.ts';
import { productHandlers } from './handlers/products.ts';
import { signingKeyHandlers } from './handlers/signing-keys.ts';
import { webhookHandlers } from './handlers/webhooks.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { forValidation } from './openapi-definition.ts';
import { HttpProblem, toProblem } from './problem.ts';
import type { RateLimiter } from './rate-limit.ts';
import { parseBody, readRawBodyOnce } from './request-body.ts';
import { type RequestOrigin, type RequestState, ScopedRequestState } from './request-state.ts';
import type { ApiResult } from './result.ts';
import {
  assertLicenseKeyAccess,
  assertScopes,
  presentedKeyHash,
  principalOf,
  securityHandlers,
  unauthorized,
} from './security.ts';
import type { HandlerContext, Handlers, OperationId, Principal, SuccessResponse } from './types.ts';

const handlers: Handlers = {
  ...machineHandlers,
  ...policyHandlers,
  ...productHandlers,
  ...licenseHandlers,
  ...apiKeyHandlers,
  ...eventHandlers,
  ...webhookHandlers,
  ...entitlementHandlers,
  ...checkOutHandlers,
  ...signingKeyHandlers,
  ...processHandlers,
};

/** What the pipeline guards requests with besides the contract; each is off when absent. */
export interface PipelineGuards {
  /** The request budgets: per address before authentication, per credential after it. */
  limiter?: RateLimiter;
  /** Replays of creating and acting POSTs that carry an `Idempotency-Key`. */
  idempotency?: IdempotencyKeys;
  /** Hashes the presented credential of a request from an address the limiter has blocked. */
  hasher?: KeyHasher;
}

const ANONYMOUS: Principal = { kind: 'anonymous' };

/**
 * The steps around a request's authentication, taken by the pipeline's handlers and by the hot
 * path (hot-path.ts) alike, so that a step added here is taken by both. Each answers undefined
 * rather than a promise when nothing is to be waited for.
 */
export interface AuthenticationSteps {
  /** Before the schemes: the address's budget, and its block for failed authentication. */
  before(state: RequestState): Promise<void> | undefined;
  /** No scheme accepted the request: the failure counted, then its 401 (or 503) thrown. */
  refused(context: Context, state: RequestState): Promise<never>;
  /** A scheme accepted it: the credential's budget, its scopes, an expired license key's access. */
  accepted(context: Context, principal: Principal, state: RequestState): Promise<void> | undefined;
}

function authenticationSteps({ limiter, hasher }: PipelineGuards): AuthenticationSteps {
  const checks = (context: Context, principal: Principal, state: RequestState) => {
    assertScopes(context, principal);
    return assertLicenseKeyAccess(context, principal, state.services);
  };
  return {
    before: (state) =>
      limiter?.beforeAuthentication(state.clientIp, () =>
        hasher ? presentedKeyHash(state.request.headers.authorization, hasher) : undefined,
      ),
    async refused(context, state) {
      if (state.invalidCredentials) await limiter?.authenticationFailed(state.clientIp);
      throw unauthorized(context, state);
    },
    accepted(context, principal, state) {
      const counted = limiter?.afterAuthentication(principal);
      return counted ? counted.then(() => checks(context, principal, state)) : checks(context, principal, state);
    },
  };
}

/** Whether the operation needs no credentials (`security: [{}]`: the public signing keys). */
function isPublic(context: Context): boolean {
  const requirements = (context.operation.security ?? []) as Record<string, string[]>[];
  return requirements.some((requirement) => Object.keys(requirement).length === 0);
}

/**
 * The request's services once it is authenticated: acting for its credential, whose id every
 * event they write names, and, for a key limited to a product, seeing nothing of the others. The
 * public operation writes nothing and keeps the services that act for no one.
 */
function servicesFor(principal: Principal, services: Services): Services {
  switch (principal.kind) {
    case 'apiKey':
      return services.actingFor({ type: 'apiKey', id: principal.apiKey.id }, principal.apiKey.productId ?? null);
    case 'license':
      return services.actingFor({ type: 'license', id: principal.license.id });
    case 'anonymous':
      return services;
  }
}

/** What a handler is called with (a class: see RequestScope in access-log.ts). */
class HandlerCall {
  readonly body: unknown;
  readonly query: unknown;
  readonly path: unknown;
  readonly headers: RequestState['request']['headers'];
  readonly principal: Principal;
  readonly services: Services;
  readonly requestId: string;
  readonly #state: RequestState;

  constructor(context: Context, state: RequestState, principal: Principal) {
    this.body = context.request.requestBody;
    this.query = context.request.query;
    this.path = context.request.params;
    this.headers = state.request.headers;
    this.principal = principal;
    this.services = servicesFor(principal, state.services);
    this.requestId = state.requestId;
    this.#state = state;
  }

  /** Read only by a handler that logs: the request's child logger is made then. */
  get log(): Logger {
    return this.#state.log;
  }
}

/** Whether the operation declares the `Idempotency-Key` header: creating and acting POSTs. */
function takesIdempotencyKey(operation: RequestState['operation']): boolean {
  return (operation?.parameters ?? []).some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key');
}

/**
 * What openapi-backend runs for one operation once the request is valid: the handler, with the
 * request's parts and principal, replayed instead when an `Idempotency-Key` says it already ran.
 */
function operationHandler(
  operationId: OperationId,
  handler: Handlers[OperationId],
  idempotency: IdempotencyKeys | undefined,
) {
  return async (context: Context, state: RequestState): Promise<ApiResult> => {
    const principal = principalOf(context) ?? (isPublic(context) ? ANONYMOUS : undefined);
    if (!principal) throw new HttpProblem('INTERNAL_ERROR', 'authorized without a principal');
    const ctx = new HandlerCall(context, state, principal) as unknown as HandlerContext<typeof operationId>;
    const run = handler as (c: typeof ctx) => Promise<SuccessResponse<typeof operationId>>;
    const key = state.request.headers['idempotency-key'];
    if (!idempotency || typeof key !== 'string' || !takesIdempotencyKey(state.operation))
      return asResult(await run(ctx));
    const execute = async () => asResult(await run(ctx));
    const fingerprint = IdempotencyKeys.fingerprint(operationId, { path: ctx.path, query: ctx.query, body: ctx.body });
    return idempotency.run(IdempotencyKeys.scopeOf(principal), key, fingerprint, execute);
  };
}

/** A handler's answer as the pipeline passes it on: JSON unless the handler says otherwise. */
function asResult(answer: unknown): ApiResult {
  const result = answer as { status: number; body: unknown; contentType?: string; headers?: Record<string, string> };
  return result.headers
    ? {
        status: result.status,
        body: result.body,
        contentType: result.contentType ?? 'application/json',
        headers: result.headers,
      }
    : { status: result.status, body: result.body, contentType: result.contentType ?? 'application/json' };
}

/** openapi-backend's path template as its router reads it: `{name}` matches one segment. */
function pathTemplateToPattern(path: string): string {
  return `^${path
    .replace(/\{[^}]+\}/g, '\0')
    .split('\0')
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+')}$`;
}

type Router = OpenAPIBackend['router'];
type RoutedOperation = ReturnType<Router['getOperations']>[number];

/**
 * openapi-backend's `matchOperation`, with what it derived from every operation on every request
 * (a pattern and a regular expression per operation, then the candidates sorted by specificity)
 * derived once: routing cost grew with each operation the contract gained. Its answers, but one:
 * a path the contract names as it is (`/api-keys/current`) is that resource, so a method it lacks
 * is a 405 even where a template (`/api-keys/{id}`) has the method — openapi-backend would route
 * `DELETE /api-keys/current` to the template. Otherwise: the most specific template (literal
 * length, ties in the contract's order) that has the method; no template at all is a 404, a
 * template without the method a 405.
 */
export function operationMatcher(router: Router, operations: RoutedOperation[]) {
  const exact = new Map<string, RoutedOperation[]>();
  for (const operation of operations) exact.set(operation.path, [...(exact.get(operation.path) ?? []), operation]);
  const templates = operations
    .map((operation, index) => ({
      operation,
      index,
      pattern: new RegExp(pathTemplateToPattern(operation.path)),
      specificity: operation.path.replace(/\{.*?\}/g, '').length,
    }))
    // Array sort is stable, as lodash's orderBy is: ties keep the contract's order.
    .sort((a, b) => b.specificity - a.specificity || a.index - b.index);
  const isUnderApiRoot = (router as unknown as { isUnderApiRoot(path: string): boolean }).isUnderApiRoot.bind(router);
  return (request: Parameters<Router['matchOperation']>[0], strict?: boolean): RoutedOperation | undefined => {
    const req = router.normalizeRequest(request);
    const notFound = (): undefined => {
      if (strict) throw Error('404-notFound: no route matches request');
      return undefined;
    };
    const methodNotAllowed = (): undefined => {
      if (strict) throw Error('405-methodNotAllowed: this method is not registered for the route');
      return undefined;
    };
    if (!isUnderApiRoot(req.path)) return notFound();
    const path = router.normalizePath(req.path);
    const named = exact.get(path);
    if (named) {
      const found = named.find(({ method }) => method === req.method);
      if (found) return found;
      if (!path.includes('{')) return methodNotAllowed();
    }
    let matched = false;
    for (const { operation, pattern } of templates) {
      if (!pattern.test(path)) continue;
      if (operation.method === req.method) return operation;
      matched = true;
    }
    return matched ? methodNotAllowed() : notFound();
  };
}

type ParsedRequest = ReturnType<Router['parseRequest']>;

/**
 * openapi-backend reads a request's path parameters with `bath`, which it calls with the
 * operation's template on every parse: a regular expression and its closures compiled per
 * request. The templates are the contract's few dozen paths, so each is compiled once. `bath`'s
 * result is functions of the template alone, safe to share.
 */
function compileTemplatesOnce(): void {
  const fromBackend = createRequire(createRequire(import.meta.url).resolve('openapi-backend'));
  const module = fromBackend('bath-es5') as { default: (template: string, patterns?: unknown) => unknown };
  const bath = module.default;
  if ((bath as { once?: true }).once) return;
  const compiled = new Map<string, unknown>();
  module.default = Object.assign(
    (template: string, patterns?: unknown) => {
      if (patterns !== undefined) return bath(template, patterns);
      if (!compiled.has(template)) compiled.set(template, bath(template));
      return compiled.get(template);
    },
    { once: true as const },
  );
}

const PARSED = Symbol('parsed');

/**
 * openapi-backend's `parseRequest`, which it calls up to four times a request (each copying the
 * headers, parsing the cookies and the query, and compiling the path template), made once per
 * request and operation:
 * - before routing, without an operation: only the routing-failure handlers get that parse, and
 *   ours answer from the request state; it is the request as it came, with nothing parsed;
 * - after routing, and again in validation: the same request, parsed once. Its body is parsed
 *   in between (request-body.ts), so the second takes the first's parts with the body as it is
 *   now, read as openapi-backend reads it.
 * The coerced copy that validation makes is a new request, parsed as it always was.
 */
function onceParsed(router: Router): Router['parseRequest'] {
  compileTemplatesOnce();
  const parse = router.parseRequest.bind(router);
  type Parsed = { of: object; operation: unknown; body: unknown; request: ParsedRequest };
  return (req, operation) => {
    if (operation === undefined)
      return {
        ...req,
        params: {},
        query: {},
        cookies: {},
        headers: req.headers,
        requestBody: undefined,
      } as ParsedRequest;
    // On the request itself, not in a WeakMap: cheaper to reach, gone with the request. Copies
    // of the request (validation's coerced one) carry it too, so it names the request it is of.
    const holder = req as typeof req & { [PARSED]?: Parsed };
    const known = holder[PARSED];
    if (known?.of !== req || known.operation !== operation) {
      const request = parse(req, operation);
      holder[PARSED] = { of: req, operation, body: req.body, request };
      return request;
    }
    if (known.body === req.body) return known.request;
    let requestBody = req.body;
    if (req.body && typeof req.body !== 'object') {
      try {
        requestBody = JSON.parse(String(req.body));
      } catch {
        // As openapi-backend does: validation reports a body that is not JSON.
      }
    }
    const request = { ...known.request, body: req.body, requestBody };
    holder[PARSED] = { of: req, operation, body: req.body, request };
    return request;
  };
}

/**
 * One operation as the pipeline runs it, for the hot path (hot-path.ts), which runs the same
 * steps in the same order without openapi-backend's routing, parsing and copying.
 */
export interface PreparedOperation {
  operationId: OperationId;
  /** openapi-backend's dereferenced operation, as routing would have matched it. */
  operation: RequestState['operation'] & object;
  /** The media types its body may have (the 415 check), when it declares one. */
  bodyMediaTypes: string[] | undefined;
  /**
   * openapi-backend's own validators of the operation's parameters and body (validation.js),
   * given what its `validateRequest` gives them: `path`, `query`, `header`, `cookie`, and
   * `requestBody` when there is a body or the request says it is JSON.
   */
  valid(parameters: Record<string, unknown>): boolean;
  /** The operation's handler, as openapi-backend calls it once the request is valid. */
  run(context: Context, state: RequestState): Promise<ApiResult>;
}

export interface Pipeline {
  /**
   * Runs one API request through openapi-backend: routing, authentication, scopes, body checks,
   * validation, then its handler. Never throws: every failure is already its problem response.
   * The state tells the caller which operation answered.
   */
  handle(req: Request, origin: RequestOrigin): Promise<{ result: ApiResult; state: RequestState }>;
  /** An operation's parts, for the hot path. */
  prepared(operationId: OperationId): PreparedOperation;
  /** The steps around authentication, for the hot path. */
  authentication: AuthenticationSteps;
}

/** The operation pipeline, built once from the contract, which it changes (forValidation) and then lets go. */
export async function createPipeline(
  document: Record<string, unknown>,
  guards: PipelineGuards = {},
): Promise<Pipeline> {
  const { idempotency } = guards;
  const authentication = authenticationSteps(guards);
  const { definition, bodyMediaTypes } = forValidation(document);
  const api = new OpenAPIBackend({
    definition: definition as never,
    strict: true,
    quick: true,
    validate: true,
    coerceTypes: true,
    customizeAjv: (_original, options) => createAjv(options as Record<string, unknown>) as never,
  });

  /** A 405 with the methods the request's path has (the router's answer for each). */
  const methodNotAllowed = (state: RequestState): HttpProblem => {
    const allowed = ['get', 'post', 'put', 'patch', 'delete']
      .filter((method) => api.router.matchOperation({ ...state.request, method } as never) !== undefined)
      .map((method) => method.toUpperCase());
    return new HttpProblem(
      'METHOD_NOT_ALLOWED',
      `${state.request.method} is not allowed here; use ${allowed.join(', ')}.`,
      {
        Allow: allowed.join(', '),
      },
    );
  };

  for (const [name, handler] of Object.entries(securityHandlers)) {
    api.registerSecurityHandler(name, (context: Context, state: RequestState) => handler(context, state));
  }

  api.register({
    postRoutingHandler: async (context: Context, state: RequestState) => {
      state.operation = context.operation as unknown as RequestState['operation'];
      state.operationId = context.operation?.operationId;
      if (state.operation) await authentication.before(state);
    },
    notFound: (_c: Context, state: RequestState) => {
      throw new HttpProblem('NOT_FOUND', `No API operation at ${state.request.path}.`);
    },
    methodNotAllowed: (_c: Context, state: RequestState) => {
      throw methodNotAllowed(state);
    },
    unauthorizedHandler: (context: Context, state: RequestState) => authentication.refused(context, state),
    // Runs after authentication and before validation: scopes, then the body (request-body.ts).
    postSecurityHandler: async (context: Context, state: RequestState) => {
      if (!context.security.authorized) return;
      const principal = principalOf(context);
      if (principal) await authentication.accepted(context, principal, state);

      const declared = bodyMediaTypes.get(context.operation.operationId!);
      if (declared)
        state.request.body = parseBody(
          state.rawBody,
          state.request.headers['content-type'] as string | undefined,
          declared,
        );
    },
    validationFail: (context: Context) => {
      const errors = fieldErrors(context);
      throw new InvalidInput(errors.length > 0 ? errors : [{ pointer: '', message: 'is invalid' }]);
    },
  });

  const runs = new Map<OperationId, PreparedOperation['run']>();
  for (const [operationId, handler] of Object.entries(handlers) as [OperationId, Handlers[OperationId]][]) {
    const run = operationHandler(operationId, handler, idempotency);
    runs.set(operationId, run);
    api.register(operationId, run);
  }

  await api.init();
  // openapi-backend rebuilds its flat list of operations (lodash chains over the whole document)
  // several times a request, for routing and validation; the document never changes after init.
  const operations = api.router.getOperations();
  api.router.getOperations = () => operations;
  api.router.matchOperation = operationMatcher(api.router, operations) as typeof api.router.matchOperation;
  api.router.parseRequest = onceParsed(api.router);
  // Routing and validation read only the dereferenced copy openapi-backend made; the document it
  // was given, kept as `inputDocument` and (parsed in the background in quick mode, by the next
  // turn of the event loop) as `document`, would stay alive beside it for nothing.
  await new Promise((resolve) => setImmediate(resolve));
  api.inputDocument = undefined as never;
  api.document = undefined as never;

  return {
    authentication,
    prepared(operationId) {
      const operation = api.router.getOperation(operationId) as unknown as PreparedOperation['operation'] | undefined;
      const run = runs.get(operationId);
      if (!operation || !run) throw new Error(`no operation ${operationId}`);
      const validators = api.validator.getRequestValidatorsForOperation(operationId);
      return {
        operationId,
        operation,
        bodyMediaTypes: bodyMediaTypes.get(operationId),
        valid: (parameters) => validators.every((validate) => validate(parameters) && !validate.errors),
        run,
      };
    },

    async handle(req, origin) {
      const queryAt = req.originalUrl.indexOf('?');
      const state = new ScopedRequestState(
        origin,
        {
          // HEAD is GET without a body; Node drops the body itself.
          method: req.method === 'HEAD' ? 'GET' : req.method,
          path: req.path,
          query: queryAt === -1 ? '' : req.originalUrl.slice(queryAt + 1),
          headers: req.headers as Record<string, string | string[]>,
        },
        { bytes: undefined, tooLarge: false },
      );
      try {
        state.rawBody = await readRawBodyOnce(req);
        return { result: (await api.handleRequest(state.request as never, state)) as ApiResult, state };
      } catch (error) {
        return { result: toProblem(error, state), state };
      }
    },
  };
}
