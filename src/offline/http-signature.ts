import { createHash, type KeyObject, sign } from 'node:crypto';
import { type InnerList, type Item, parseDictionary, serializeInnerList, serializeItem } from 'structured-headers';

/**
 * Signed responses: RFC 9421 HTTP Message Signatures over an RFC 9530 `Content-Digest`. Pure:
 * the HTTP layer gives the finished response's status, content type and body bytes and the
 * request's method, path and query, and sets the two headers this returns.
 */

/** RFC 9530 `Content-Digest` of the body bytes, SHA-256. */
export function contentDigest(body: Uint8Array | string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
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

function coveredComponents(message: MessageToSign): [Item, string][] {
  return [
    [['@status', new Map()], String(message.status)],
    ...(message.contentType === undefined
      ? []
      : [[['content-type', new Map()], message.contentType.trim()] as [Item, string]]),
    [['content-digest', new Map()], message.contentDigest],
    [['@method', REQUEST], message.method.toUpperCase()],
    [['@path', REQUEST], message.path === '' ? '/' : message.path],
    [['@query', REQUEST], `?${message.query ?? ''}`],
  ];
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
  const components = coveredComponents(message);
  const list: InnerList = [
    components.map(([item]) => item),
    new Map<string, string | number>([
      ['created', parameters.created],
      ['keyid', parameters.keyId],
      ['alg', 'ed25519'],
    ]),
  ];
  const signatureParams = serializeInnerList(list);
  const lines = components.map(([item, value]) => `${serializeItem(item)}: ${value}`);
  lines.push(`"@signature-params": ${signatureParams}`);
  return { base: lines.join('\n'), signatureParams };
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
