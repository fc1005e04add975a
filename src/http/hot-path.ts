import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Context } from 'openapi-backend';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { Services } from '../services.ts';
import { startRequest } from './access-log.ts';
import type { Pipeline, PreparedOperation } from './pipeline.ts';
import { toProblem } from './problem.ts';
import { parseBody, type RawBody, readRawBodyOnce } from './request-body.ts';
import { type RequestState, ScopedRequestState } from './request-state.ts';
import type { ResponseSigner } from './response-signing.ts';
import { type ApiResult, sendJson } from './result.ts';
import { licenseCredentials } from './security.ts';
import type { Principal } from './types.ts';

/**
 * The operations the hot path answers: what every installed copy calls all day (heartbeats,
 * validation), and once each (activation, in the storms of a release).
 */
export const HOT_OPERATIONS = [
  'pingMachineHeartbeat',
  'processHeartbeat',
  'validateLicense',
  'activateMachine',
] as const;
type HotOperationId = (typeof HOT_OPERATIONS)[number];

/** The API's base (app.ts's `API_BASE`, which imports this module). */
const API_BASE = '/api/v1';
/** The hot operations with a body, by their one target. */
const WITH_BODY = new Map<string, 'validateLicense' | 'activateMachine'>([
  [`${API_BASE}/licenses/actions/validate`, 'validateLicense'],
  [`${API_BASE}/machines`, 'activateMachine'],
]);
/** A heartbeat's target with a plain id: nothing escaped, no query, no trailing slash. */
const HEARTBEAT_PATH = /^\/api\/v1\/(machines|processes)\/([0-9A-Za-z-]{1,64})\/heartbeat$/;

export interface HotPathDeps {
  pipeline: Pipeline;
  log: Logger;
  /** The request's services, acting for no one until authentication says who. */
  services: () => Services;
  /** The client's address, as Express's `req.ip` would give it (trust proxy included). */
  clientIp: (req: IncomingMessage) => string;
  signer: ResponseSigner;
  metrics?: Metrics;
  /** What every API answer passes through before it is sent (app.ts): the contract check, the heartbeat metric. */
  checked: (state: RequestState, result: ApiResult) => ApiResult;
}

/**
 * The API's hottest operations (machine and process heartbeats, validation, activation) answered
 * on node:http, before Express and openapi-backend. A hot request still runs every step the
 * pipeline runs, in its order and with its own functions: the request id and access line, the
 * rate limits, the License scheme's handler and its 401s, the license-key checks,
 * openapi-backend's own compiled validators, the operation's handler (an `Idempotency-Key`
 * replayed as it would be), problem answers, the contract check, the heartbeat metric and
 * response signing. What it skips is what those libraries do around the steps for any request:
 * Express's router and its request and response objects; openapi-backend's routing, its request
 * parse and the coerced copy it validates.
 *
 * A request it cannot answer exactly as the pipeline would goes on to Express untouched (with a
 * body it read brought along, request-body.ts): anything but these targets as a client sends
 * them, a heartbeat with a body, and a request the validators or the body checks refuse,
 * which the pipeline refuses in its own order (authentication comes first there). Deciding that
 * changes nothing anywhere: no limit is counted and no credential read before the request is
 * known to be the hot path's.
 */
export class HotPath {
  readonly #deps: HotPathDeps;
  readonly #operations: Record<HotOperationId, PreparedOperation>;
  /** Requests answered here, not by the pipeline; the tests read it. */
  answered = 0;

  constructor(deps: HotPathDeps) {
    this.#deps = deps;
    this.#operations = {
      pingMachineHeartbeat: deps.pipeline.prepared('pingMachineHeartbeat'),
      processHeartbeat: deps.pipeline.prepared('processHeartbeat'),
      validateLicense: deps.pipeline.prepared('validateLicense'),
      activateMachine: deps.pipeline.prepared('activateMachine'),
    };
  }

  /** A node:http listener answering the hot requests and handing every other one to `next`. */
  listener(next: RequestListener): RequestListener {
    return (req, res) => {
      if (req.method !== 'POST' || req.url === undefined) return next(req, res);
      const withBody = WITH_BODY.get(req.url);
      if (withBody !== undefined) {
        this.#withBody(this.#operations[withBody], req, res, next).catch((error: unknown) => this.#failed(res, error));
        return;
      }
      const heartbeat = HEARTBEAT_PATH.exec(req.url);
      // A heartbeat declares no body: one that comes with one is read (and ignored) by the pipeline.
      if (
        heartbeat === null ||
        req.headers['transfer-encoding'] !== undefined ||
        Number(req.headers['content-length'] ?? 0) !== 0
      )
        return next(req, res);
      const prepared = this.#operations[heartbeat[1] === 'machines' ? 'pingMachineHeartbeat' : 'processHeartbeat'];
      const params = { id: heartbeat[2]! };
      const parameters = { path: params, query: {}, header: req.headers, cookie: {} };
      if (!this.#valid(prepared, parameters, req.headers['content-type'])) return next(req, res);
      this.#answer(prepared, req, res, params, undefined, { bytes: undefined, tooLarge: false }).catch(
        (error: unknown) => this.#failed(res, error),
      );
    };
  }

  /**
   * What escaped the answers above, outside their own problem handling (a fault of ours): logged,
   * and the connection closed, rather than an unhandled rejection ending the process.
   */
  #failed(res: ServerResponse, error: unknown): void {
    this.#deps.log.error({ err: error }, 'hot path failed');
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  async #withBody(
    prepared: PreparedOperation,
    req: IncomingMessage,
    res: ServerResponse,
    next: RequestListener,
  ): Promise<void> {
    let raw: RawBody;
    let body: unknown;
    try {
      raw = await readRawBodyOnce(req);
      body = parseBody(raw, req.headers['content-type'], prepared.bodyMediaTypes ?? []);
    } catch {
      // The pipeline reads the same outcome (readRawBodyOnce) and refuses it after authentication.
      return next(req, res);
    }
    const parameters: Record<string, unknown> = { path: {}, query: {}, header: req.headers, cookie: {} };
    if (!this.#valid(prepared, parameters, req.headers['content-type'], body)) return next(req, res);
    await this.#answer(prepared, req, res, {}, body, raw);
  }

  /** openapi-backend's validation of the request, given what its `validateRequest` would give. */
  #valid(
    prepared: PreparedOperation,
    parameters: Record<string, unknown>,
    contentType: string | undefined,
    body?: unknown,
  ): boolean {
    const json = (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
    if (typeof body === 'object' || json) parameters.requestBody = body;
    return prepared.valid(parameters);
  }

  /** The pipeline's steps from routing on (pipeline.ts), for a request known to be valid. */
  async #answer(
    prepared: PreparedOperation,
    req: IncomingMessage,
    res: ServerResponse,
    params: Record<string, string>,
    body: unknown,
    rawBody: RawBody,
  ): Promise<void> {
    this.answered++;
    const deps = this.#deps;
    const path = req.url!;
    // The access line names the path under the API's base, as Express's mount leaves `req.path`.
    const answered = { path: path.slice(API_BASE.length), operationId: prepared.operationId };
    const scope = startRequest(deps.log, deps.metrics, req, res, answered);
    const headers = req.headers as Record<string, string | string[]>;
    const clientIp = deps.clientIp(req);
    const state = new ScopedRequestState(
      { scope, services: deps.services(), clientIp },
      { method: 'POST', path, query: '', headers, body },
      rawBody,
      prepared.operation,
    );
    const context = {
      operation: prepared.operation,
      request: { method: 'post', path, headers, params, query: {}, cookies: {}, body, requestBody: body },
      security: {} as Record<string, unknown>,
    } as unknown as Context;
    let result: ApiResult;
    const steps = deps.pipeline.authentication;
    try {
      // No await where nothing waits (limits off, a live license): each is a promise and a turn.
      const counted = steps.before(state);
      if (counted) await counted;
      // As openapi-backend runs a security handler: what it throws is recorded, not thrown.
      let outcome: Principal | false | { error: unknown };
      try {
        const found = licenseCredentials(context, state);
        outcome = found instanceof Promise ? await found : found;
      } catch (error) {
        outcome = { error: error ?? new Error('security handler rejected') };
      }
      const authorized = outcome !== false && !('error' in outcome);
      context.security = { License: outcome, authorized };
      if (!authorized) await steps.refused(context, state);
      const accepted = steps.accepted(context, outcome as Principal, state);
      if (accepted) await accepted;
      result = await prepared.run(context, state);
    } catch (error) {
      result = toProblem(error, state);
    }
    result = deps.checked(state, result);
    try {
      sendJson(req, res, result, state.requestId, deps.signer);
    } catch (error) {
      // What Express's error handler would have answered a throwing `send` with, as a problem.
      if (!res.headersSent) sendJson(req, res, toProblem(error, state), state.requestId, deps.signer);
      else res.destroy(error as Error);
    }
  }
}
