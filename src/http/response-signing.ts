import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { isDatabaseUnavailable } from '../db/failure.ts';
import { contentDigest, requestedSignatureLabel, signResponse } from '../offline/http-signature.ts';

/** The key responses are signed with: the active signing key, its private half opened. */
export interface ResponseSigningKey {
  id: string;
  privateKey: KeyObject;
}

/**
 * How long a replica signs with the key it read before it reads the active key again. A rotation
 * made elsewhere is picked up within this; until then the replica signs with the key the rotation
 * retired, which stays published (`GET /signing-keys`), so its signatures still verify.
 */
export const SIGNING_KEY_TTL_MS = 30_000;
/** After a failed read (the database away, a key that does not open), the wait before the next one. */
const RETRY_AFTER_FAILURE_MS = 5_000;
/** The longest label signed under: the spec bounds the signature headers, which repeat it. */
const MAX_LABEL_LENGTH = 64;

export interface ResponseSignerOptions {
  /** Reads the active key and opens its private half: null when there is none. */
  load: () => Promise<ResponseSigningKey | null>;
  /** The server's clock, for the signatures' `created`. */
  clock: Clock;
  log: Logger;
  ttlMs?: number;
  /** Monotonic milliseconds, for the TTL (performance.now unless a test moves it). */
  monotonic?: () => number;
}

/**
 * Signs responses for clients that ask (RFC 9421 `Accept-Signature` with `alg="ed25519"`) with
 * the active signing key, held opened in memory. No request ever waits on the database for it:
 * the key is read at start, and once it is older than the TTL the next signed response is
 * signed with the key held while a read of the current one runs beside it. Without a key (its
 * first read failed) responses go out unsigned, which a client that asked for a signature
 * refuses, until a read succeeds.
 */
export class ResponseSigner {
  readonly #load: () => Promise<ResponseSigningKey | null>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #monotonic: () => number;
  #key: ResponseSigningKey | null = null;
  #nextReadAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<void> | undefined;
  #lastHeader: string | undefined;
  #lastLabel: string | null = null;

  constructor(options: ResponseSignerOptions) {
    this.#load = options.load;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#ttlMs = options.ttlMs ?? SIGNING_KEY_TTL_MS;
    this.#monotonic = options.monotonic ?? (() => performance.now());
  }

  /**
   * Reads the active key now (one read at a time; callers share it). The server awaits it at
   * start; whatever changes the active key in this process may call it to use the new one at once.
   */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<void> {
    try {
      const key = await this.#load();
      if (key === null) this.#log.error('no active signing key: responses go out unsigned');
      else if (key.id !== this.#key?.id) this.#log.info({ keyId: key.id }, 'signing responses with this key');
      this.#key = key;
      this.#nextReadAt = this.#monotonic() + (key === null ? RETRY_AFTER_FAILURE_MS : this.#ttlMs);
    } catch (error) {
      // The key held so far keeps signing: it stays published after a rotation. A database that
      // is away is the outage's own news; a key that does not open is a misconfiguration.
      if (isDatabaseUnavailable(error))
        this.#log.warn({ err: error }, 'could not read the active signing key: the database is unavailable');
      else
        this.#log.error(
          { err: error },
          'could not open the active signing key (is LICENTRIC_SECRET the one it was sealed with?)',
        );
      this.#nextReadAt = this.#monotonic() + RETRY_AFTER_FAILURE_MS;
    }
  }

  /** A client sends the same `Accept-Signature` every time: the last one's label is kept. */
  #labelFor(header: string | undefined): string | null {
    if (header !== this.#lastHeader) {
      this.#lastLabel = requestedSignatureLabel(header);
      this.#lastHeader = header;
    }
    return this.#lastLabel;
  }

  /** The key to sign with now, or null; starts a read in the background once it is due. */
  current(): ResponseSigningKey | null {
    if (this.#monotonic() >= this.#nextReadAt && this.#reading === undefined) void this.refresh();
    return this.#key;
  }

  /**
   * The `Content-Digest`, `Signature-Input` and `Signature` headers for a response, or undefined
   * when the request did not ask for an `ed25519` signature under a label of at most 64
   * characters (or no key is at hand).
   *
   * @param request the request as it arrived: its method, its target (path and query as sent)
   *   and its headers
   * @param contentType the response's final `Content-Type`
   * @param body the response's body bytes, exactly as sent
   */
  headersFor(
    request: { method?: string; url?: string; headers: IncomingHttpHeaders },
    status: number,
    contentType: string,
    body: Uint8Array,
  ): Record<string, string> | undefined {
    // Node joins repeated lines of a header it does not know into one string; the array is typing's.
    const accept = request.headers['accept-signature'];
    const label = this.#labelFor(Array.isArray(accept) ? accept.join(', ') : accept);
    if (label === null || label.length > MAX_LABEL_LENGTH) return undefined;
    const key = this.current();
    if (key === null) return undefined;
    const { path, query } = splitTarget(request.url ?? '/');
    const digest = contentDigest(body);
    const { signatureInput, signature } = signResponse(
      { status, contentType, contentDigest: digest, method: request.method ?? 'GET', path, query },
      {
        label,
        keyId: key.id,
        created: Math.floor(this.#clock.now().getTime() / 1000),
        privateKey: key.privateKey,
      },
    );
    return { 'Content-Digest': digest, 'Signature-Input': signatureInput, Signature: signature };
  }
}

/**
 * The path and query of a request target as sent: origin form (`/a?b`), or absolute form
 * (`http://host/a?b`, which a client may send to a server), whose path starts after the authority.
 */
function splitTarget(target: string): { path: string; query: string | undefined } {
  let rest = target;
  if (!rest.startsWith('/')) {
    const scheme = rest.indexOf('://');
    const slash = scheme === -1 ? -1 : rest.indexOf('/', scheme + 3);
    const question = scheme === -1 ? -1 : rest.indexOf('?', scheme + 3);
    rest =
      slash !== -1 && (question === -1 || slash < question)
        ? rest.slice(slash)
        : `/${question === -1 ? '' : rest.slice(question)}`;
  }
  const at = rest.indexOf('?');
  return at === -1 ? { path: rest, query: undefined } : { path: rest.slice(0, at), query: rest.slice(at + 1) };
}
