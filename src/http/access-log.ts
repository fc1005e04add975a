import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { parseTraceparent, type TraceContext } from '../core/trace.ts';
import type { Metrics } from '../metrics.ts';

/** A client's own request id is echoed only when it is short and plain enough to log safely. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's own request id when it sent a usable one, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const offered = headers['x-request-id'];
  return typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
}

/**
 * A request's id, and a logger bound to it.
 *
 * A class, not an object literal with a `get log()`: V8 gives each such literal a hidden class of
 * its own (the getter is a new closure every time), kept in the old generation until a full
 * collection, and with it the closure and everything the closure's context holds (the request,
 * its response). Measured on heartbeats: ~3 KiB a request promoted, a full collection three times
 * a second (bench/README.md, "Getters in object literals"). The request's objects that read the
 * log lazily (RequestState, a handler's context) are classes for the same reason.
 */
export class RequestScope {
  readonly requestId: string;
  readonly #base: Logger;
  readonly #trace: TraceContext | undefined;
  #log: Logger | undefined;

  constructor(requestId: string, base: Logger, trace: TraceContext | undefined) {
    this.requestId = requestId;
    this.#base = base;
    this.#trace = trace;
  }

  /** Made on first use: most requests log nothing but their access line. */
  get log(): Logger {
    const trace = this.#trace;
    const requestId = this.requestId;
    this.#log ??= this.#base.child(
      trace ? { requestId, traceId: trace.traceId, parentSpanId: trace.parentSpanId } : { requestId },
    );
    return this.#log;
  }
}

/** What the access line says of a finished request: where it went and which operation answered. */
export interface Answered {
  path: string;
  operationId: string | undefined;
}

/**
 * Gives a request its id (the client's, or a new one) and a logger bound to it (a W3C
 * `traceparent`'s trace id joins the id in the log lines), and writes one access-log line and the
 * request metrics when the response is finished. The caller echoes the id in `X-Request-Id`. The
 * access line is written through the base logger with the fields a child logger would bind, so a
 * request that logs nothing else makes no child.
 */
export function startRequest(
  baseLog: Logger,
  metrics: Metrics | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  answered: Answered | (() => Answered),
): RequestScope {
  const requestId = requestIdOf(req.headers);
  const trace = parseTraceparent(req.headers.traceparent);
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const { path, operationId } = typeof answered === 'function' ? answered() : answered;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics?.requests.inc({ operation: operationId ?? 'none', status: res.statusCode });
    metrics?.latency.observe({ operation: operationId ?? 'none' }, seconds);
    // Every 5xx is an operator's business, whatever the cause.
    const level = res.statusCode >= 500 ? 'warn' : 'info';
    if (!baseLog.isLevelEnabled(level)) return;
    const status = res.statusCode;
    const ms = seconds * 1e3;
    const { method } = req;
    baseLog[level](
      trace
        ? { requestId, traceId: trace.traceId, parentSpanId: trace.parentSpanId, method, path, status, ms, operationId }
        : { requestId, method, path, status, ms, operationId },
      'request',
    );
  });
  return new RequestScope(requestId, baseLog, trace);
}

/** `startRequest` for the Express routes: the scope goes in `res.locals` (`scope`, and its `requestId`). */
export function requestContext(baseLog: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const scope = startRequest(baseLog, metrics, req, res, () => ({
      path: req.path,
      operationId: res.locals.operationId as string | undefined,
    }));
    res.setHeader('X-Request-Id', scope.requestId);
    res.locals.requestId = scope.requestId;
    res.locals.scope = scope;
    next();
  };
}
