import { generateKeyPairSync } from 'node:crypto';
import { createVerifier, httpbis } from 'http-message-signatures';
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  type MessageToSign,
  requestedSignatureLabel,
  signatureBase,
  signResponse,
} from '../src/offline/http-signature.ts';

/**
 * Response signatures from src/offline/http-signature.ts, checked by a standard RFC 9421
 * implementation (npm http-message-signatures): it rebuilds the signature base from the response
 * and the request as a client holds them, so any difference from the RFC's rules fails here.
 */

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const KEY_ID = '019ad5a0-0000-7000-8000-0000000000aa';
const ORIGIN = 'https://licensing.example.com';

interface Exchange {
  request: { method: string; url: string; headers: Record<string, string> };
  response: { status: number; headers: Record<string, string>; body: string };
}

/** What the server does: digest the body, sign the response for the request, set the headers. */
function signed(exchange: Exchange, label = 'sig1'): Exchange {
  const url = new URL(exchange.request.url);
  const body = exchange.response.body;
  const message: MessageToSign = {
    status: exchange.response.status,
    contentType: exchange.response.headers['content-type'],
    contentDigest: contentDigest(body),
    method: exchange.request.method,
    path: url.pathname,
    query: url.search === '' ? undefined : url.search.slice(1),
  };
  const { signatureInput, signature } = signResponse(message, {
    label,
    keyId: KEY_ID,
    created: Math.floor(Date.now() / 1000),
    privateKey,
  });
  return {
    ...exchange,
    response: {
      ...exchange.response,
      headers: {
        ...exchange.response.headers,
        'content-digest': message.contentDigest,
        'signature-input': signatureInput,
        signature,
      },
    },
  };
}

/** What a client does: the standard library verifies the signature, then the digest is compared to the body. */
async function clientAccepts({ request, response }: Exchange): Promise<boolean> {
  const verified = await httpbis
    .verifyMessage(
      {
        keyLookup: async (params) =>
          params.keyid === KEY_ID
            ? { id: KEY_ID, algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') }
            : null,
        // The library compares names without parameters; the `;req` forms are checked by the test below.
        requiredFields: ['@status', 'content-digest', '@method', '@path', '@query'],
        requiredParams: ['created', 'keyid', 'alg'],
      },
      { status: response.status, headers: response.headers },
      request,
    )
    .catch(() => false);
  return verified === true && response.headers['content-digest'] === contentDigest(response.body);
}

const validate = (status: number, body: object, url = `${ORIGIN}/api/v1/licenses/actions/validate`): Exchange => ({
  request: { method: 'POST', url, headers: { 'accept-signature': 'sig1=("@status");alg="ed25519"' } },
  response: { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) },
});

describe('a signed response, checked by a standard RFC 9421 library', () => {
  it('verifies for a 200, a 401 and a 429, with and without a query', async () => {
    for (const exchange of [
      validate(200, { valid: true, code: 'VALID', nonce: 42 }),
      validate(401, { type: 'about:blank', status: 401, code: 'UNAUTHORIZED' }),
      validate(429, { status: 429, code: 'RATE_LIMITED' }),
      validate(200, { data: [] }, `${ORIGIN}/api/v1/machines?limit=10&after=abc`),
    ]) {
      expect(await clientAccepts(signed(exchange))).toBe(true);
    }
  });

  it('covers the request: the same answer replayed for another request is refused', async () => {
    const answer = signed(validate(200, { valid: true }));
    for (const request of [
      { ...answer.request, url: `${ORIGIN}/api/v1/licenses/other/actions/validate` },
      { ...answer.request, url: `${answer.request.url}?again=1` },
      { ...answer.request, method: 'PUT' },
    ]) {
      expect(await clientAccepts({ ...answer, request })).toBe(false);
    }
  });

  it('covers the status, the content type and the body', async () => {
    const answer = signed(validate(200, { valid: true }));
    expect(await clientAccepts(answer)).toBe(true);
    expect(await clientAccepts({ ...answer, response: { ...answer.response, status: 201 } })).toBe(false);
    expect(
      await clientAccepts({
        ...answer,
        response: { ...answer.response, headers: { ...answer.response.headers, 'content-type': 'text/plain' } },
      }),
    ).toBe(false);
    expect(await clientAccepts({ ...answer, response: { ...answer.response, body: '{"valid":false}' } })).toBe(false);
  });

  it('names the key and the time, under the label the client asked for', () => {
    const answer = signed(validate(200, { valid: true }), 'licentric');
    expect(answer.response.headers['signature-input']).toMatch(
      new RegExp(
        `^licentric=\\("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req\\);created=\\d+;keyid="${KEY_ID}";alg="ed25519"$`,
      ),
    );
    expect(answer.response.headers.signature).toMatch(/^licentric=:[A-Za-z0-9+/]{86}==:$/);
  });

  it('builds the signature base of RFC 9421 §2.5 line for line', () => {
    const { base } = signatureBase(
      {
        status: 200,
        contentType: 'application/json',
        contentDigest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
        method: 'post',
        path: '/api/v1/licenses/actions/validate',
        query: undefined,
      },
      { keyId: 'k1', created: 1_618_884_473 },
    );
    expect(base).toBe(
      [
        '"@status": 200',
        '"content-type": application/json',
        '"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
        '"@method";req: POST',
        '"@path";req: /api/v1/licenses/actions/validate',
        '"@query";req: ?',
        '"@signature-params": ("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req);created=1618884473;keyid="k1";alg="ed25519"',
      ].join('\n'),
    );
  });

  it('is the RFC 9530 digest of the body bytes', () => {
    // RFC 9530 Appendix B.1: {"hello": "world"} and its SHA-256.
    expect(contentDigest('{"hello": "world"}\n')).toBe('sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:');
  });
});

describe('whether a response is signed', () => {
  it('only when Accept-Signature asks for alg="ed25519", under the label it names', () => {
    expect(requestedSignatureLabel(undefined)).toBeNull();
    expect(requestedSignatureLabel('')).toBeNull();
    expect(requestedSignatureLabel('sig1=("@status");alg="ed25519"')).toBe('sig1');
    expect(
      requestedSignatureLabel(
        'a=("@status");alg="rsa-pss-sha512", b=("@status" "content-digest");alg="ed25519";keyid="x"',
      ),
    ).toBe('b');
    expect(requestedSignatureLabel('sig1=("@status");alg="hmac-sha256"')).toBeNull();
    expect(requestedSignatureLabel('sig1=("@status")')).toBeNull();
    expect(requestedSignatureLabel('sig1=ed25519')).toBeNull();
    expect(requestedSignatureLabel('not a dictionary ((')).toBeNull();
  });
});
