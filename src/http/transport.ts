import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { requestIdOf } from './access-log.ts';
import { answerParserErrors, refuseOnSocket } from './parser-errors.ts';
import { BODY_LIMIT_BYTES, BODY_TOO_LARGE } from './request-body.ts';
import type { ResponseSigner } from './response-signing.ts';

/** How long a request may take to arrive: Node's own timers, which answer 408 (parser-errors.ts). */
export interface TransportTimeouts {
  /** From the first byte of a request to the end of its headers (ms). */
  headersTimeoutMs: number;
  /** From the first byte of a request to the end of its body (ms); at least `headersTimeoutMs`. */
  requestTimeoutMs: number;
}

/**
 * Refuses, before any handler (and before any `100 Continue`), what no operation could take: a
 * declared body over the limit, and an HTTP/1.1 request without `Host` (Node's own refusal of
 * that is a bare 400). Returns whether it answered.
 */
function refusedBeforeRouting(req: IncomingMessage, log: Logger, signer: ResponseSigner | undefined): boolean {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && req.headers.host === undefined) {
    req.resume();
    refuseOnSocket(
      req.socket,
      'MALFORMED_REQUEST',
      'An HTTP/1.1 request must carry a Host header.',
      log,
      'no Host header',
      requestIdOf(req.headers),
      signer && { signer, request: req },
    );
    return true;
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > BODY_LIMIT_BYTES) {
    // Whatever of the body comes anyway is read and dropped (refuseOnSocket lingers for it).
    req.resume();
    refuseOnSocket(
      req.socket,
      'PAYLOAD_TOO_LARGE',
      BODY_TOO_LARGE,
      log,
      'Content-Length over the limit',
      requestIdOf(req.headers),
      signer && { signer, request: req },
    );
    return true;
  }
  return false;
}

/**
 * The node:http server the API listens with: its request timeouts, and the refusals above, each
 * a problem+json answer with a request id whose connection then closes, signed like every
 * other answer for a request that asks (`signer`, the app's).
 */
export function createHttpServer(
  handler: RequestListener,
  timeouts: TransportTimeouts,
  log: Logger,
  signer?: ResponseSigner,
): Server {
  const server = createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // Node checks the timers above this often (30 s by default, which would stretch a 5 s limit).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(timeouts.headersTimeoutMs / 4))),
      // Checked in refusedBeforeRouting instead, to answer with a problem body.
      requireHostHeader: false,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      if (!refusedBeforeRouting(req, log, signer)) handler(req, res);
    },
  );
  // With a listener, Node leaves `100 Continue` to us: only a request that may go on gets it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (refusedBeforeRouting(req, log, signer)) return;
    res.writeContinue();
    server.emit('request', req, res);
  });
  answerParserErrors(server, log);
  return server;
}
