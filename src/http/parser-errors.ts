import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { problemBody, type HttpErrorCode } from './problem.ts';

type ClientError = Error & { code?: string };

/** Which problem a request gets that Node's HTTP parser refused before Express ever saw it. */
function problemFor(error: ClientError): { code: HttpErrorCode; detail: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', detail: 'The request was not received in time; send it again, whole.' };
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', detail: 'The request headers are larger than the server accepts.' };
    default:
      return {
        code: 'MALFORMED_REQUEST',
        detail: 'The request is not valid HTTP/1.1. A URL must be ASCII: percent-encode anything else (e.g. é as %C3%A9).',
      };
  }
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
    const requestId = randomUUID();
    const { code, detail } = problemFor(error);
    const problem = problemBody(code, detail, requestId);
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
    log.warn({ requestId, status: problem.status, code, reason: error.code }, 'request refused by the HTTP parser');
  });
}
