// A signed answer, asked for through the client's typed Accept-Signature header parameter and
// checked with node:crypto alone: the Content-Digest against the body bytes, the nonce echoed in
// the body, and the Ed25519 signature over the RFC 9421 signature base.
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import type createClient from 'openapi-fetch';
import type { paths } from '../../generated/api.d.ts';

const ACCEPT_SIGNATURE = `sig1=("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req);alg="ed25519"`;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`smoke check failed: ${message}`);
}

/**
 * RFC 9421 §2.5's signature base for the components this server covers, taken from the response
 * and the request it answered; an unknown component throws rather than being skipped.
 */
export function signatureBase(response: Response, request: URL, method: string, signatureParams: string): string {
  const list = /^\(([^)]*)\)/.exec(signatureParams);
  if (list === null) throw new Error(`Signature-Input is not an inner list: ${signatureParams}`);
  const values: Record<string, () => string> = {
    '"@status"': () => String(response.status),
    '"content-type"': () => response.headers.get('content-type')?.trim() ?? '',
    '"content-digest"': () => response.headers.get('content-digest')?.trim() ?? '',
    '"@method";req': () => method.toUpperCase(),
    '"@path";req': () => request.pathname,
    '"@query";req': () => `?${request.search.slice(1)}`,
  };
  const lines = list[1]!.split(' ').map((component) => {
    const value = values[component];
    if (value === undefined) throw new Error(`unexpected covered component ${component}`);
    return `${component}: ${value()}`;
  });
  return [...lines, `"@signature-params": ${signatureParams}`].join('\n');
}

export async function signedValidation(client: ReturnType<typeof createClient<paths>>, licenseKey: string) {
  const nonce = `sdk-typescript-${randomBytes(8).toString('hex')}`;
  // openapi-fetch parses the body it reads; the digest is over the bytes, so keep a copy of them.
  let bodyBytes: Uint8Array | undefined;
  let sent: Request | undefined;
  const answer = await client.POST('/licenses/actions/validate', {
    headers: { Authorization: `License ${licenseKey}` },
    params: { header: { 'Accept-Signature': ACCEPT_SIGNATURE } },
    body: { nonce },
    fetch: async (request) => {
      sent = request;
      const response = await fetch(request);
      bodyBytes = new Uint8Array(await response.clone().arrayBuffer());
      return response;
    },
  });
  check(
    answer.data !== undefined && bodyBytes !== undefined && sent !== undefined,
    `signed validate: ${JSON.stringify(answer.error)}`,
  );
  check(answer.data.data.valid, `the smoke license validates: ${answer.data.data.code}`);
  check(answer.data.meta?.nonce === nonce, `meta.nonce is ${answer.data.meta?.nonce}, sent ${nonce}`);

  const headers = answer.response.headers;
  const digest = `sha-256=:${createHash('sha256').update(bodyBytes).digest('base64')}:`;
  check(
    headers.get('content-digest') === digest,
    `Content-Digest is ${headers.get('content-digest')}, the body's is ${digest}`,
  );
  const input = headers.get('signature-input') ?? '';
  const signature = headers.get('signature') ?? '';
  check(input.startsWith('sig1=') && input.endsWith(';alg="ed25519"'), `Signature-Input: ${input}`);
  check(/^sig1=:[A-Za-z0-9+/]+={0,2}:$/.test(signature), `Signature: ${signature}`);

  const keyId = /;keyid="([^"\\]*)"/.exec(input)?.[1];
  check(keyId !== undefined, `Signature-Input names no keyid: ${input}`);
  // Fetched without authentication, as shipped software does before it goes offline.
  const keys = await client.GET('/signing-keys');
  check(keys.data !== undefined, `signing keys: ${JSON.stringify(keys.error)}`);
  const key = keys.data.data.find((k) => k.id === keyId);
  check(key !== undefined, `the signing key ${keyId} is published`);
  const x = Buffer.from(key.publicKey, 'hex').toString('base64url');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  const base = signatureBase(answer.response, new URL(sent.url), sent.method, input.slice('sig1='.length));
  const signatureBytes = Buffer.from(signature.slice('sig1=:'.length, -1), 'base64');
  check(verify(null, Buffer.from(base), publicKey, signatureBytes), `the signature does not verify over:\n${base}`);
  // The same check must refuse an answer recorded for another nonce.
  const otherBody = base.replace(digest, `sha-256=:${Buffer.alloc(32).toString('base64')}:`);
  check(
    !verify(null, Buffer.from(otherBody), publicKey, signatureBytes),
    'a signature must not verify over another body',
  );
  console.log(`signed validation: ${answer.data.data.code}, nonce ${answer.data.meta.nonce}, key ${keyId}`);
}
