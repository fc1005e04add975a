import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { createVerifier, httpbis } from 'http-message-signatures';
import { describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { ResponseSigner } from '../src/http/response-signing.ts';
import { createLogger } from '../src/log.ts';
import { contentDigest } from '../src/offline/http-signature.ts';
import {
  activeSigningKey,
  listSigningKeys,
  rotateSigningKey,
  type SigningKey,
  signingPublicKey,
} from '../src/offline/signing-keys.ts';
import {
  activate,
  licenseAuth,
  seedLicense,
  TEST_SECRET,
  type TestServer,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

/**
 * Signed responses from the running server (RFC 9421 over an RFC 9530 Content-Digest), checked
 * by a standard implementation (npm http-message-signatures) exactly as a client would: it
 * rebuilds the signature base from the response it got and the request it sent, looks the key up
 * by `keyid` among the published keys, and then compares the digest with the body.
 */

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
// A second server whose address budget is three requests a minute, for a real 429.
const limited = useTestServer({
  rateLimits: { ip: { points: 3, seconds: 60 }, license: null, apiKey: null, authFailures: null },
});

const ASK = { 'Accept-Signature': 'sig1=("@status" "content-digest");alg="ed25519"' };
const REQUIRED_FIELDS = ['@status', 'content-type', 'content-digest', '@method', '@path', '@query'];

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
}

interface Received {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function exchange(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ request: Sent; response: Received }> {
  const request = { method: init.method ?? 'GET', url, headers: init.headers ?? {} };
  const answer = await fetch(url, { method: request.method, headers: request.headers, body: init.body });
  const response = {
    status: answer.status,
    headers: Object.fromEntries(answer.headers),
    body: await answer.text(),
  };
  return { request, response };
}

/** The published keys, as GET /signing-keys serves them: read from the table the route reads. */
async function publishedKeys(on: TestServer): Promise<SigningKey[]> {
  return listSigningKeys(on.orm.em.fork());
}

/** What a client does: verify the signature with the standard library, then the digest against the body. */
async function verified(on: TestServer, request: Sent, response: Received): Promise<boolean> {
  const keys = await publishedKeys(on);
  const ok = await httpbis
    .verifyMessage(
      {
        keyLookup: async (params) => {
          const key = keys.find((k) => k.id === params.keyid);
          return key
            ? { id: key.id, algs: ['ed25519'], verify: createVerifier(signingPublicKey(key), 'ed25519') }
            : null;
        },
        requiredFields: REQUIRED_FIELDS,
        requiredParams: ['created', 'keyid', 'alg'],
      },
      { status: response.status, headers: response.headers },
      request,
    )
    .catch(() => false);
  return ok === true && response.headers['content-digest'] === contentDigest(response.body);
}

/** The request line's exact form of the signature's components, which the library matches by name alone. */
function expectSignatureInput(response: Received, label = 'sig1'): void {
  expect(response.headers['signature-input']).toMatch(
    new RegExp(
      `^${label}=\\("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req\\);created=\\d+;keyid="[0-9a-f-]{36}";alg="ed25519"$`,
    ),
  );
  expect(response.headers.signature).toMatch(new RegExp(`^${label}=:[A-Za-z0-9+/]{86}==:$`));
}

const validateUrl = () => `${server.apiUrl}/licenses/actions/validate`;

describe('a signed answer, verified by a standard RFC 9421 library', () => {
  it('a 200 validation, with the nonce echoed under the digest and the active key named', async () => {
    const { key } = await seedLicense(server);
    const machine = await activate(server, key);
    for (const nonce of [4_190_735_521, 'f3a9c2e1b7d04a68', -9_007_199_254_740_991, 'x'.repeat(64)]) {
      const { request, response } = await exchange(validateUrl(), {
        method: 'POST',
        headers: { ...ASK, ...licenseAuth(key), 'Content-Type': 'application/json' },
        body: JSON.stringify({ fingerprint: machine.fingerprint, nonce }),
      });
      expect(response.status).toBe(200);
      const body = JSON.parse(response.body);
      expect(body.data).toMatchObject({ valid: true, code: 'VALID' });
      expect(body.meta).toEqual({ nonce });
      expectSignatureInput(response);
      expect(await verified(server, request, response)).toBe(true);
      // The nonce is under the digest: the same answer with another nonce does not verify.
      const replayed = { ...response, body: response.body.replace(JSON.stringify(nonce), '12345') };
      expect(replayed.body).not.toBe(response.body);
      expect(await verified(server, request, replayed)).toBe(false);
    }

    const [active] = (await publishedKeys(server)).filter((k) => k.status === 'active');
    const { response } = await exchange(validateUrl(), { method: 'POST', headers: { ...ASK, ...licenseAuth(key) } });
    expect(response.headers['signature-input']).toContain(`keyid="${active!.id}"`);
    // Without a nonce there is nothing to echo.
    expect(JSON.parse(response.body).meta).toBeUndefined();
  });

  it('a 401, a 404 (of an operation, of no operation, of no API), a 405 and 400s', async () => {
    const { key } = await seedLicense(server);
    const cases: [string, { method?: string; headers?: Record<string, string>; body?: string }, number][] = [
      [validateUrl(), { method: 'POST', headers: ASK }, 401],
      [validateUrl(), { method: 'POST', headers: { ...ASK, ...licenseAuth('TST-NOT-A-REAL-KEY') } }, 401],
      [`${server.apiUrl}/machines/0190a1b2-0000-7000-8000-000000000000`, { headers: { ...ASK, ...admin } }, 404],
      [`${server.apiUrl}/nothing/here?x=1`, { headers: ASK }, 404],
      [`${server.baseUrl}/not-the-api`, { headers: ASK }, 404],
      [validateUrl(), { method: 'GET', headers: ASK }, 405],
      [
        validateUrl(),
        {
          method: 'POST',
          headers: { ...ASK, ...licenseAuth(key), 'Content-Type': 'application/json' },
          body: '{"nonce":',
        },
        400,
      ],
      [
        validateUrl(),
        {
          method: 'POST',
          headers: { ...ASK, ...licenseAuth(key), 'Content-Type': 'application/json' },
          body: JSON.stringify({ nonce: 'x'.repeat(65) }),
        },
        400,
      ],
      [
        validateUrl(),
        {
          method: 'POST',
          headers: { ...ASK, ...licenseAuth(key), 'Content-Type': 'application/json' },
          body: JSON.stringify({ nonce: 2 ** 53 }),
        },
        400,
      ],
      [`${server.apiUrl}/machines/%zz`, { headers: ASK }, 400],
      [`${server.baseUrl}/readyz`, { headers: ASK }, 200],
    ];
    for (const [url, init, status] of cases) {
      const { request, response } = await exchange(url, init);
      expect(response.status, `${init.method ?? 'GET'} ${url}: ${response.body}`).toBe(status);
      expectSignatureInput(response);
      expect(await verified(server, request, response), `${init.method ?? 'GET'} ${url}`).toBe(true);
    }
  });

  it('a 422 of a licensing rule', async () => {
    const { key } = await seedLicense(server, { maxMachines: 1 });
    await activate(server, key);
    const { request, response } = await exchange(`${server.apiUrl}/machines`, {
      method: 'POST',
      headers: { ...ASK, ...licenseAuth(key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ fingerprint: 'fp-second-machine' }),
    });
    expect(response.status).toBe(422);
    expect(JSON.parse(response.body).code).toBe('MACHINE_LIMIT_EXCEEDED');
    expect(await verified(server, request, response)).toBe(true);
  });

  it('a 429 from a budget that really ran out', async () => {
    const { key } = await seedLicense(limited);
    const url = `${limited.apiUrl}/licenses/actions/validate`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { request, response } = await exchange(url, { method: 'POST', headers: { ...ASK, ...licenseAuth(key) } });
      statuses.push(response.status);
      expect(await verified(limited, request, response), `request ${i + 1}: ${response.status}`).toBe(true);
      if (response.status === 429) {
        expect(JSON.parse(response.body).code).toBe('RATE_LIMITED');
        expect(response.headers['retry-after']).toBeTruthy();
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('a 413 the transport gives before routing, over the raw connection', async () => {
    const port = Number(new URL(server.baseUrl).port);
    const path = '/api/v1/licenses/actions/validate?probe=1';
    const text = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('end', () => socket.end());
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAccept-Signature: mine=("@status");alg="ed25519"\r\n` +
          'Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n',
      );
    });
    const [head = '', body = ''] = text.split('\r\n\r\n');
    const [statusLine = '', ...lines] = head.split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    const response = { status: Number(statusLine.split(' ')[1]), headers, body };
    expect(response.status).toBe(413);
    expectSignatureInput(response, 'mine');
    const request = { method: 'POST', url: `${server.baseUrl}${path}`, headers: {} };
    expect(await verified(server, request, response)).toBe(true);
    expect(await verified(server, { ...request, url: `${server.baseUrl}/api/v1/machines` }, response)).toBe(false);
  });
});

describe('what the signature binds', () => {
  it('the request: the answer replayed for another path, query or method is refused', async () => {
    const { request, response } = await exchange(`${server.apiUrl}/machines?limit=10`, {
      headers: { ...ASK, ...admin },
    });
    expect(response.status).toBe(200);
    expect(await verified(server, request, response)).toBe(true);
    for (const other of [
      { ...request, url: `${server.apiUrl}/licenses?limit=10` },
      { ...request, url: `${server.apiUrl}/machines?limit=11` },
      { ...request, url: `${server.apiUrl}/machines` },
      { ...request, method: 'POST' },
    ]) {
      expect(await verified(server, other, response), `${other.method} ${other.url}`).toBe(false);
    }
    // And the status.
    expect(await verified(server, request, { ...response, status: 201 })).toBe(false);
  });
});

describe('when nothing is signed', () => {
  it('without Accept-Signature, or when it asks for another algorithm or is not a dictionary', async () => {
    const { key } = await seedLicense(server);
    for (const headers of [
      {} as Record<string, string>,
      { 'Accept-Signature': 'sig1=("@status");alg="rsa-pss-sha512"' },
      { 'Accept-Signature': 'sig1=("@status")' },
      { 'Accept-Signature': 'not a dictionary ((' },
      { 'Accept-Signature': `${'a'.repeat(65)}=("@status");alg="ed25519"` },
    ]) {
      for (const { response } of [
        await exchange(validateUrl(), { method: 'POST', headers: { ...headers, ...licenseAuth(key) } }),
        await exchange(validateUrl(), { method: 'POST', headers }),
      ]) {
        expect(response.status).toBeLessThan(500);
        expect(response.headers.signature).toBeUndefined();
        expect(response.headers['signature-input']).toBeUndefined();
        expect(response.headers['content-digest']).toBeUndefined();
      }
    }
  });

  it('the same body and Content-Type either way', async () => {
    const { key } = await seedLicense(server);
    const plain = await exchange(validateUrl(), { method: 'POST', headers: licenseAuth(key) });
    const signed = await exchange(validateUrl(), { method: 'POST', headers: { ...ASK, ...licenseAuth(key) } });
    expect(signed.response.headers['content-type']).toBe(plain.response.headers['content-type']);
    expect(signed.response.headers['content-length']).toBe(plain.response.headers['content-length']);
    const problem = await exchange(validateUrl(), { method: 'POST' });
    const signedProblem = await exchange(validateUrl(), { method: 'POST', headers: ASK });
    expect(signedProblem.response.headers['content-type']).toBe(problem.response.headers['content-type']);
    expect(problem.response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });
});

describe('the signing key a replica holds', () => {
  it('follows a rotation made elsewhere within its TTL, without a request waiting for the read', async () => {
    let now = 0;
    let reads = 0;
    const signer = new ResponseSigner({
      load: async () => {
        reads += 1;
        const active = await activeSigningKey(server.orm.em.fork(), TEST_SECRET);
        return active && { id: active.key.id, privateKey: active.privateKey };
      },
      clock: server.clock,
      log: createLogger('silent'),
      ttlMs: 30_000,
      monotonic: () => now,
    });
    await signer.refresh();
    const before = signer.current()!.id;
    expect(reads).toBe(1);

    // Another replica rotates: within the TTL this one keeps its key and reads nothing.
    const rotated = await rotateSigningKey(server.orm.em.fork(), TEST_SECRET, server.clock.now(), CLI_ACTOR);
    now += 29_999;
    expect(signer.current()!.id).toBe(before);
    expect(reads).toBe(1);

    // Past it, the next signature is still made at once with the key held (retired, still
    // published) while the read runs; the one after uses the new key.
    now += 1;
    expect(signer.current()!.id).toBe(before);
    await signer.refresh();
    expect(reads).toBe(2);
    expect(signer.current()!.id).toBe(rotated.id);
    const published = await publishedKeys(server);
    expect(published.find((k) => k.id === before)?.status).toBe('retired');
  });
  it('answers unsigned while no key could be read, and retries the read after 5 s', async () => {
    let now = 0;
    let failing = true;
    const signer = new ResponseSigner({
      load: async () => {
        if (failing) throw new Error('connection refused');
        const active = await activeSigningKey(server.orm.em.fork(), TEST_SECRET);
        return active && { id: active.key.id, privateKey: active.privateKey };
      },
      clock: server.clock,
      log: createLogger('silent'),
      monotonic: () => now,
    });
    await signer.refresh();
    const request = {
      method: 'GET',
      url: '/api/v1/machines',
      headers: { 'accept-signature': ASK['Accept-Signature'] },
    };
    expect(signer.headersFor(request, 200, 'application/json', Buffer.from('{}'))).toBeUndefined();
    failing = false;
    now += 4_999;
    expect(signer.current()).toBeNull();
    now += 1;
    signer.current();
    await signer.refresh();
    expect(Object.keys(signer.headersFor(request, 200, 'application/json', Buffer.from('{}')) ?? {})).toEqual([
      'Content-Digest',
      'Signature-Input',
      'Signature',
    ]);
  });
});

describe('the spec', () => {
  it('declares Accept-Signature on every operation and the signature headers on every response', async () => {
    const document = JSON.parse(await readFile(path.join(import.meta.dirname, '../generated/openapi.json'), 'utf8'));
    const parameter = document.components.parameters.AcceptSignatureHeader;
    expect(parameter).toMatchObject({ name: 'Accept-Signature', in: 'header', required: false });
    let operations = 0;
    type Operation = { parameters?: unknown[]; responses: Record<string, { headers?: Record<string, unknown> }> };
    for (const [route, item] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
      for (const [method, operation] of Object.entries(item)) {
        operations += 1;
        expect(operation.parameters, `${method} ${route}`).toContainEqual({
          $ref: '#/components/parameters/AcceptSignatureHeader',
        });
        for (const [status, response] of Object.entries(operation.responses)) {
          const headers = Object.keys(response.headers ?? {});
          expect(headers, `${method} ${route} ${status}`).toEqual(
            expect.arrayContaining(['Content-Digest', 'Signature-Input', 'Signature']),
          );
        }
      }
    }
    expect(operations).toBeGreaterThan(40);
  });
});
