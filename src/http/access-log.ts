import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
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

/**
 * Gives every request its id (the client's, or a new one) and a logger bound to it, echoes the
 * id in `X-Request-Id` (a W3C `traceparent`'s trace id joins it in the log lines), and writes one
 * access-log line and the request metrics when the response is finished.
 */
export function requestContext(baseLog: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const requestId = requestIdOf(req.headers);
    const trace = parseTraceparent(req.headers.traceparent);
    const log = baseLog.child(
      trace ? { requestId, traceId: trace.traceId, parentSpanId: trace.parentSpanId } : { requestId },
    );
    res.locals.requestId = requestId;
    res.locals.log = log;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const operation = (res.locals.operationId as string | undefined) ?? 'none';
      metrics?.requests.inc({ operation, status: res.statusCode });
      metrics?.latency.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
      // Every 5xx is an operator's business, whatever the cause.
      log[res.statusCode >= 500 ? 'warn' : 'info'](
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
  };
}
