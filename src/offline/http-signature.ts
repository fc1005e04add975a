import { hash, type KeyObject, sign } from 'node:crypto';
import { parseDictionary, serializeItem } from 'structured-headers';

/**
 * Signed responses: RFC 9421 HTTP Message Signatures over an RFC 9530 `Content-Digest`. Pure:
 * the HTTP layer gives the finished response's status, content type and body bytes and the
 * request's method, path and query, and sets the two headers this returns.
 */

/**
 * RFC 9530 `Content-Digest` of the body bytes, SHA-256. The one-shot `hash` makes no Hash
 * object, whose native handle every signed response would otherwise leave to the collector.
 */
export function contentDigest(body: Uint8Array | string): string {
  return `sha-256=:${hash('sha256', body, 'base64')}:`;
}

/**
 * The label to sign under when `Accept-Signature` (RFC 9421 §5.1) asks for an `ed25519`
 * signature, or null: no header, a header that does not parse, or no member asking for
 * `alg="ed25519"` all mean the response goes unsigned, as it would to a client that never asked.
 */
export function requestedSignatureLabel(acceptSignature: string | undefined): string | null {
  if (acceptSignature === undefined || acceptSignature.trim() === '') return null;
  let dictionary: ReturnType<typeof parseDictionary>;
  try {
    dictionary = parseDictionary(acceptSignature);
  } catch {
    return null;
  }
  for (const [label, member] of dictionary) {
    if (Array.isArray(member[0]) && member[1].get('alg') === 'ed25519') return label;
  }
  return null;
}

export interface MessageToSign {
  status: number;
  /** The response's `Content-Type`, when it has one: covered only then. */
  contentType: string | undefined;
  /** The response's `Content-Digest` (`contentDigest`), always covered. */
  contentDigest: string;
  /** The request, as it arrived: covered with `;req` so the answer cannot be replayed to another. */
  method: string;
  /** The request target's path as sent (percent-encoded), `/` when empty. */
  path: string;
  /** The request target's query without the `?`, or undefined when it had none. */
  query: string | undefined;
}

export interface SignatureParameters {
  label: string;
  keyId: string;
  /** Unix seconds. */
  created: number;
  privateKey: KeyObject;
}

const REQUEST = new Map([['req', true]]);

/**
 * The covered components' identifiers, serialized once: they are the same for every response,
 * and structured-field serialization per response was a quarter of a signature's cost.
 */
const IDENTIFIER = {
  status: serializeItem(['@status', new Map()]),
  contentType: serializeItem(['content-type', new Map()]),
  contentDigest: serializeItem(['content-digest', new Map()]),
  method: serializeItem(['@method', REQUEST]),
  path: serializeItem(['@path', REQUEST]),
  query: serializeItem(['@query', REQUEST]),
};
const WITH_CONTENT_TYPE = `(${[IDENTIFIER.status, IDENTIFIER.contentType, IDENTIFIER.contentDigest, IDENTIFIER.method, IDENTIFIER.path, IDENTIFIER.query].join(' ')})`;
const WITHOUT_CONTENT_TYPE = `(${[IDENTIFIER.status, IDENTIFIER.contentDigest, IDENTIFIER.method, IDENTIFIER.path, IDENTIFIER.query].join(' ')})`;
const ALG = `;alg=${serializeItem(['ed25519', new Map()])}`;

/** The last key id serialized as a structured-field string: the active key's, nearly always. */
let lastKeyId: { id: string; serialized: string } | undefined;

function serializedKeyId(keyId: string): string {
  if (lastKeyId?.id !== keyId) lastKeyId = { id: keyId, serialized: serializeItem([keyId, new Map()]) };
  return lastKeyId.serialized;
}

/**
 * The signature base of RFC 9421 §2.5: one line per covered component, its identifier as a
 * structured-field string with its parameters, then `@signature-params`; no trailing newline.
 */
export function signatureBase(
  message: MessageToSign,
  parameters: Omit<SignatureParameters, 'label' | 'privateKey'>,
): {
  base: string;
  signatureParams: string;
} {
  if (!Number.isSafeInteger(parameters.created)) throw new RangeError('created must be an integer');
  const hasType = message.contentType !== undefined;
  const signatureParams = `${hasType ? WITH_CONTENT_TYPE : WITHOUT_CONTENT_TYPE};created=${parameters.created};keyid=${serializedKeyId(parameters.keyId)}${ALG}`;
  const base =
    `${IDENTIFIER.status}: ${message.status}\n` +
    (hasType ? `${IDENTIFIER.contentType}: ${message.contentType!.trim()}\n` : '') +
    `${IDENTIFIER.contentDigest}: ${message.contentDigest}\n` +
    `${IDENTIFIER.method}: ${message.method.toUpperCase()}\n` +
    `${IDENTIFIER.path}: ${message.path === '' ? '/' : message.path}\n` +
    `${IDENTIFIER.query}: ?${message.query ?? ''}\n` +
    `"@signature-params": ${signatureParams}`;
  return { base, signatureParams };
}

/** The `Signature-Input` and `Signature` headers for a response. */
export function signResponse(
  message: MessageToSign,
  parameters: SignatureParameters,
): { signatureInput: string; signature: string } {
  const { base, signatureParams } = signatureBase(message, parameters);
  const signature = sign(null, Buffer.from(base, 'utf8'), parameters.privateKey).toString('base64');
  return {
    signatureInput: `${parameters.label}=${signatureParams}`,
    signature: `${parameters.label}=:${signature}:`,
  };
}
