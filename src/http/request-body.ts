import type { IncomingMessage } from 'node:http';
import { HttpProblem } from './problem.ts';

/** The largest request body the API reads; larger ones get 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface RawBody {
  bytes: Buffer | undefined;
  tooLarge: boolean;
}

/**
 * Reads the body without parsing it: whether it must be JSON, and may be parsed at all, depends
 * on the operation, which is only known after routing and authentication. Beyond the limit the
 * rest is drained unread, so the 413 still reaches the client instead of a reset connection.
 * Only a chunked body gets here oversized (a Content-Length over the limit is refused before it
 * is read, transport.ts); the request timeout bounds how long its draining may take.
 */
export function readRawBody(req: IncomingMessage): Promise<RawBody> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (req.headers['transfer-encoding'] === undefined && !(declared > 0)) {
    return Promise.resolve({ bytes: undefined, tooLarge: false });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= BODY_LIMIT_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (received > BODY_LIMIT_BYTES) resolve({ bytes: undefined, tooLarge: true });
      else resolve({ bytes: received === 0 ? undefined : Buffer.concat(chunks), tooLarge: false });
    });
    // The connection went before the body was whole: the request timeout ended it (its 408 is
    // already written, parser-errors.ts) or the client left. Nobody is left to answer, and its
    // ECONNRESET is no server fault (it would pass for a lost database connection).
    req.on('error', () => reject(new HttpProblem('REQUEST_TIMEOUT', 'The request body did not arrive whole.')));
  });
}

/** Whether a Content-Type header names one of the declared media types (parameters such as charset aside). */
export function mediaTypeMatches(contentType: string | undefined, declared: string[]): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return declared.some((d) => d.toLowerCase() === type);
}
