import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type HttpErrorCode, problemBody } from './problem.ts';
import type { ResponseSigner } from './response-signing.ts';

type ClientError = Error & { code?: string };

/** How long a refused connection may go on sending (the rest of a body) before it is dropped. */
const LINGER_MS = 5_000;

/** Which problem a request gets that Node's HTTP parser refused before Express ever saw it. */
function problemFor(error: ClientError): { code: HttpErrorCode; detail: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', detail: 'The request was not received in time; send it again, whole.' };
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', detail: 'The request headers are larger than the server accepts.' };
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_EOF_STATE':
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
      return {
        code: 'MALFORMED_REQUEST',
        detail:
          'The request is not valid HTTP/1.1: a header name or value holds a character HTTP does not allow (a control character, say).',
      };
    default:
      return {
        code: 'MALFORMED_REQUEST',
        detail:
          'The request is not valid HTTP/1.1. A URL must be ASCII: percent-encode anything else (e.g. é as %C3%A9).',
      };
  }
}

/**
 * Answers a request with a problem written straight to its connection, then closes the
 * connection cleanly: our side is ended at once, and whatever the client still sends (the rest
 * of a body it did not stop) is read and dropped until it closes its side or the linger runs out.
 * Closing a socket with unread input makes the kernel reset the connection, and the client would
 * lose the answer.
 *
 * A request that was parsed (its headers read) is signed when it asked (`signedFor`); one the
 * parser refused has no method or target to sign for, nor an `Accept-Signature` anyone read.
 */
export function refuseOnSocket(
  socket: Duplex,
  code: HttpErrorCode,
  detail: string,
  log: Logger,
  reason: string,
  requestId: string = randomUUID(),
  signedFor?: { signer: ResponseSigner; request: IncomingMessage },
): void {
  const problem = problemBody(code, detail, requestId);
  const body = Buffer.from(JSON.stringify(problem), 'utf8');
  const contentType = 'application/problem+json; charset=utf-8';
  const signature = signedFor?.signer.headersFor(signedFor.request, problem.status, contentType, body);
  const signatureLines = Object.entries(signature ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const head =
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
    `Content-Type: ${contentType}\r\n` +
    `Content-Length: ${body.length}\r\n` +
    `X-Request-Id: ${requestId}\r\n` +
    signatureLines +
    'Connection: close\r\n\r\n';
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(linger));
  log.warn({ requestId, status: problem.status, code, reason }, 'request refused before routing');
}

/**
 * Node answers what its parser rejects (a URL with a raw non-ASCII byte, oversized headers, a
 * request that times out) with a bare status line: no body and no X-Request-Id. This gives those
 * the same problem+json answer, with a request id in the header, the body and the log, as every
 * other response.
 */
export function answerParserErrors(server: Server, log: Logger): void {
  server.on('clientError', (error: ClientError, socket: Duplex) => {
    // A reset connection, or one whose response has begun, has no one to tell.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight) {
      socket.destroy();
      return;
    }
    const { code, detail } = problemFor(error);
    refuseOnSocket(socket, code, detail, log, error.code ?? 'unknown');
  });
}
