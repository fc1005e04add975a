import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { InvalidInput } from '../core/errors.ts';
import { jsonFlaw, METADATA_MAX_DEPTH } from '../core/json-value.ts';
import { HttpProblem } from './problem.ts';

/** The largest request body the API reads; larger ones get 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** The detail of the 413, whether the size was declared (transport.ts) or counted (here). */
export const BODY_TOO_LARGE = `The request body is larger than ${BODY_LIMIT_BYTES / 1024} KiB.`;

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

const RAW_BODY = Symbol('rawBody');

/**
 * `readRawBody`, read at most once a request: the hot path (hot-path.ts) reads a body before it
 * knows whether it will answer, and a request it hands on to the pipeline brings that read along.
 */
export function readRawBodyOnce(req: IncomingMessage): Promise<RawBody> {
  const holder = req as IncomingMessage & { [RAW_BODY]?: Promise<RawBody> };
  holder[RAW_BODY] ??= readRawBody(req);
  return holder[RAW_BODY];
}

/** Whether a Content-Type header names one of the declared media types (parameters such as charset aside). */
export function mediaTypeMatches(contentType: string | undefined, declared: string[]): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return declared.some((d) => d.toLowerCase() === type);
}

/**
 * The charset a Content-Type names, if any, lower-cased and unquoted. JSON is UTF-8 (RFC 8259
 * §8.1); a body labelled otherwise would be read as something its sender did not mean.
 */
function charsetOf(contentType: string): string | undefined {
  if (!contentType.includes(';')) return undefined;
  for (const parameter of contentType.split(';').slice(1)) {
    const at = parameter.indexOf('=');
    if (at !== -1 && parameter.slice(0, at).trim().toLowerCase() === 'charset') {
      return parameter
        .slice(at + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
    }
  }
  return undefined;
}

/**
 * The body of an operation that declares one, parsed and bounded, or undefined when none was
 * sent: 413 beyond the size limit, 415 for another media type or a charset other than UTF-8,
 * 400 MALFORMED_JSON for bytes that are not UTF-8 or not JSON, and 400 VALIDATION_FAILED (with a
 * pointer) for JSON no standard reader could read back once stored: nesting beyond metadata's
 * depth, lone surrogates, numbers beyond a double. Checked here once, so every operation and
 * every field is covered, whatever its schema says.
 */
export function parseBody(raw: RawBody, contentType: string | undefined, declared: string[]): unknown {
  if (raw.tooLarge) throw new HttpProblem('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE);
  if (raw.bytes === undefined && contentType === undefined) return undefined;
  if (contentType === undefined || !mediaTypeMatches(contentType, declared)) {
    throw new HttpProblem('UNSUPPORTED_MEDIA_TYPE', `The request body must be ${declared.join(' or ')}.`);
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8') {
    throw new HttpProblem(
      'UNSUPPORTED_MEDIA_TYPE',
      'The request body must be UTF-8: charset=utf-8, or no charset at all.',
    );
  }
  if (raw.bytes === undefined) return undefined;
  // Decoding would turn each invalid sequence into U+FFFD, so two different byte strings (two
  // fingerprints) would become one text: refused, not repaired.
  if (!isUtf8(raw.bytes)) throw new HttpProblem('MALFORMED_JSON', 'The request body is not valid UTF-8.');
  let body: unknown;
  try {
    body = JSON.parse(raw.bytes.toString('utf8'));
  } catch (error) {
    throw new HttpProblem('MALFORMED_JSON', `The request body is not valid JSON: ${(error as Error).message}`);
  }
  // The body is level 0, so its members (metadata) may nest METADATA_MAX_DEPTH levels below it.
  const flaw = jsonFlaw(body, METADATA_MAX_DEPTH, '', 0);
  if (flaw) throw new InvalidInput([flaw]);
  return body;
}
