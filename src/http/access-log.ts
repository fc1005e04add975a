import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { parseTraceparent } from '../core/trace.ts';
import type { Metrics } from '../metrics.ts';

/** A client's own request id is echoed only when it is short and plain enough to log safely. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's own request id when it sent a usable one, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const offered = headers['x-request-id'];
  return typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
}

/** A request's id, and a logger bound to it. */
export interface RequestScope {
  readonly requestId: string;
  /** Made on first use: most requests log nothing but their access line. */
  readonly log: Logger;
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
  let log: Logger | undefined;
  return {
    requestId,
    get log() {
      log ??= baseLog.child(
        trace ? { requestId, traceId: trace.traceId, parentSpanId: trace.parentSpanId } : { requestId },
      );
      return log;
    },
  };
}

/** `startRequest` for the Express routes: the scope goes in `res.locals` (`requestId`, `log`). */
export function requestContext(baseLog: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const scope = startRequest(baseLog, metrics, req, res, () => ({
      path: req.path,
      operationId: res.locals.operationId as string | undefined,
    }));
    res.setHeader('X-Request-Id', scope.requestId);
    res.locals.requestId = scope.requestId;
    Object.defineProperty(res.locals, 'log', { get: () => scope.log, enumerable: true });
    next();
  };
}
