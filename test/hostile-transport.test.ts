import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { licenseAuth, machineBody, seedLicense, useTestServer } from './support/harness.ts';

/**
 * Hostile input at the transport: what reaches the server before any operation is known
 * (broken percent-escapes in a path, bodies over the limit, requests that never finish
 * arriving, headers HTTP forbids). Each gets a problem+json 4xx with a status the operation
 * declares; never a 5xx, a reset or a hang. The operations come from the generated contract,
 * so a new one is covered as soon as it is specified. Raw sockets, because fetch will not send
 * most of these.
 */

const HEADERS_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;
const logLines: { level: string; msg: string; err?: unknown }[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
});
const server = useTestServer({
  logTo: logStream,
  transportTimeouts: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
});

/**
 * The timeouts are short so a 408 comes soon, and on only while the requests that never finish
 * arriving are tested: elsewhere a timer that short would race the test's own writes (50 MB
 * must not have to arrive within 600 ms on a loaded machine) and answer 408 instead.
 */
const transportTimeouts = (on: boolean) => {
  server.http.headersTimeout = on ? HEADERS_TIMEOUT_MS : 0;
  server.http.requestTimeout = on ? REQUEST_TIMEOUT_MS : 0;
};
beforeAll(() => transportTimeouts(false));

// Hostile input is the client's fault: its only warning is the refusal itself, never a server
// fault (an error, a 5xx, a database "outage" made of a dropped connection).
afterEach(async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const alarming = logLines
    .splice(0)
    .filter((line) => line.level !== 'info' && line.level !== 'debug' && line.msg !== 'request refused before routing');
  expect(alarming).toEqual([]);
});

interface Operation {
  method: string;
  path: string;
  responses: string[];
}

const spec = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};
const operations: Operation[] = Object.entries(spec.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({
    method: method.toUpperCase(),
    path,
    responses: Object.keys(op.responses),
  })),
);
const withIds = operations.filter((op) => op.path.includes('{'));
const SOME_ID = '01a21b05-0000-7000-8000-000000000000';
const concrete = (path: string, id = SOME_ID) => `/api/v1${path.replace(/\{[^}]+\}/g, id)}`;
const label = (op: Operation) => `${op.method} ${op.path}`;

const BROKEN_ESCAPES = ['%zz', '%', '%E0%A4%A', '%c0%af', '%ff', 'a%2'];

interface RawResponse {
  /** Everything the server wrote: a `100 Continue`, if any, then the response parsed below. */
  text: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** An error on the socket (a reset) instead of a clean close. */
  error: NodeJS.ErrnoException | undefined;
  ms: number;
}

/**
 * Sends `head` (and then `feed` writes more, until the server ends the connection) and reads
 * until the connection closes.
 */
function raw(
  head: string | Buffer,
  feed?: (write: (chunk: Buffer | string) => boolean, stopped: () => boolean) => void,
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(Number(new URL(server.baseUrl).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | undefined;
    let ended = false;
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => {
      ended = true;
      // The server closed its side after answering; close ours, as a client does.
      socket.end();
    });
    socket.on('error', (e) => (error = e));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '').split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({
        text,
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: rest.join('\r\n\r\n'),
        error,
        ms: performance.now() - started,
      });
    });
    socket.write(head);
    feed?.(
      (chunk) => socket.write(chunk),
      () => ended || socket.destroyed,
    );
  });
}

function expectProblem(response: RawResponse, status: number, code: string, op?: Operation): void {
  expect(response.error, 'the connection closed cleanly').toBeUndefined();
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
  const requestId = response.headers['x-request-id'];
  expect(requestId).toBeTruthy();
  expect(JSON.parse(response.body)).toMatchObject({ status, code, requestId });
  if (op) expect(op.responses, `${label(op)} declares ${status}`).toContain(String(status));
}

describe('a broken percent-escape in a path id', () => {
  it.each(withIds.map((op) => [label(op), op] as const))(
    '%s: 400 MALFORMED_REQUEST, without credentials',
    async (_name, op) => {
      for (const broken of BROKEN_ESCAPES) {
        const response = await raw(
          `${op.method} ${concrete(op.path, broken)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
        );
        expectProblem(response, 400, 'MALFORMED_REQUEST', op);
        expect(JSON.parse(response.body).detail).toContain(JSON.stringify(broken));
      }
    },
  );

  it('the same with credentials and a body, and nothing is stored', async () => {
    const { key, licenseId } = await seedLicense(server);
    const body = JSON.stringify(machineBody());
    const response = await raw(
      `POST /api/v1/machines/%zz/heartbeat HTTP/1.1\r\nHost: localhost\r\nAuthorization: License ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expectProblem(response, 400, 'MALFORMED_REQUEST');
    expect(await server.sql('select 1 from machines where license_id = $1', [licenseId])).toEqual([]);
  });

  it('a valid escape still routes', async () => {
    const response = await raw(`GET /api/v1/machines/%41bc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    expect(response.status).toBe(401);
  });
});

describe('a body over the limit', () => {
  const FIFTY_MB = 50 * 1024 * 1024;

  it.each(operations.map((op) => [label(op), op] as const))(
    '%s with Expect: 100-continue: 413 before any 100 Continue, then the connection closes',
    async (_name, op) => {
      const response = await raw(
        `${op.method} ${concrete(op.path)} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${FIFTY_MB}\r\nExpect: 100-continue\r\nX-Request-Id: big-1\r\n\r\n`,
      );
      expect(response.text).not.toContain('100 Continue');
      expectProblem(response, 413, 'PAYLOAD_TOO_LARGE', op);
      expect(response.headers['x-request-id']).toBe('big-1');
    },
  );

  it('sent without waiting: the whole 413 arrives and the connection closes without a reset, nothing stored', async () => {
    const { key, licenseId } = await seedLicense(server);
    const megabyte = Buffer.alloc(1024 * 1024, 'a');
    let sent = 0;
    const response = await raw(
      `POST /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nAuthorization: License ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${FIFTY_MB}\r\n\r\n`,
      (write, stopped) => {
        const more = () => {
          while (!stopped() && sent < FIFTY_MB) {
            sent += megabyte.length;
            if (!write(megabyte)) return void setTimeout(more, 1);
          }
        };
        more();
      },
    );
    expect(response.text).not.toContain('100 Continue');
    expectProblem(
      response,
      413,
      'PAYLOAD_TOO_LARGE',
      operations.find((op) => op.method === 'POST' && op.path === '/machines'),
    );
    expect(await server.sql('select 1 from machines where license_id = $1', [licenseId])).toEqual([]);
  });

  it('chunked, so its size is known only as it comes: 413 once it has come, without a reset', async () => {
    const { key, licenseId } = await seedLicense(server);
    const chunk = `${(1024 * 1024).toString(16)}\r\n${'a'.repeat(1024 * 1024)}\r\n`;
    let chunks = 0;
    const response = await raw(
      `POST /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nAuthorization: License ${key}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      (write, stopped) => {
        const more = () => {
          while (!stopped() && chunks < 50) {
            chunks += 1;
            if (chunks === 50) write(`${chunk}0\r\n\r\n`);
            else if (!write(chunk)) return void setTimeout(more, 1);
          }
        };
        more();
      },
    );
    expectProblem(
      response,
      413,
      'PAYLOAD_TOO_LARGE',
      operations.find((op) => op.method === 'POST' && op.path === '/machines'),
    );
    expect(await server.sql('select 1 from machines where license_id = $1', [licenseId])).toEqual([]);
  });

  it('a body within the limit, with Expect, gets its 100 Continue and its answer', async () => {
    const { key } = await seedLicense(server);
    const body = JSON.stringify(machineBody());
    const response = await raw(
      `POST /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nAuthorization: License ${key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      (write) => setTimeout(() => write(body), 50),
    );
    expect(response.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    expect(response.status).toBe(201);
  });
});

describe('a request that never finishes arriving', () => {
  beforeAll(() => transportTimeouts(true));
  afterAll(() => transportTimeouts(false));
  const slow = (write: (chunk: string) => boolean, stopped: () => boolean, chunks: string[]) => {
    const timer = setInterval(() => {
      if (stopped() || chunks.length === 0) return clearInterval(timer);
      write(chunks.shift()!);
    }, 100);
  };

  it('headers trickling a byte at a time: 408 after the headers timeout', async () => {
    const response = await raw('GET /api/v1/machines HTTP/1.1\r\nHost: localhost\r\n', (write, stopped) =>
      slow(write, stopped, [...'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']),
    );
    expectProblem(response, 408, 'REQUEST_TIMEOUT');
    expect(response.ms).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
  });

  it.each(withIds.filter((op) => op.method !== 'GET').map((op) => [label(op), op] as const))(
    '%s with a Content-Length body that never comes: 408',
    async (_name, op) => {
      const response = await raw(
        `${op.method} ${concrete(op.path)} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      );
      expectProblem(response, 408, 'REQUEST_TIMEOUT', op);
      expect(response.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
    },
  );

  it('a chunked body trickling a byte at a time: 408 after the request timeout, nothing stored', async () => {
    const { key, licenseId } = await seedLicense(server);
    const body = JSON.stringify(machineBody());
    const response = await raw(
      `POST /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nAuthorization: License ${key}\r\nContent-Type: application/json\r\n` +
        'Transfer-Encoding: chunked\r\n\r\n',
      (write, stopped) =>
        slow(
          write,
          stopped,
          [...body].map((c) => `1\r\n${c}\r\n`),
        ),
    );
    expectProblem(
      response,
      408,
      'REQUEST_TIMEOUT',
      operations.find((op) => op.method === 'POST' && op.path === '/machines'),
    );
    expect(response.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
    expect(await server.sql('select 1 from machines where license_id = $1', [licenseId])).toEqual([]);
  });
});

describe('headers HTTP does not allow', () => {
  it('an HTTP/1.1 request without Host: 400 MALFORMED_REQUEST as a problem', async () => {
    const response = await raw('GET /api/v1/machines HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectProblem(response, 400, 'MALFORMED_REQUEST');
    expect(JSON.parse(response.body).detail).toContain('Host');
  });

  it.each(['\x01', '\x7f', '\x00'])(
    'a control character (%j) in a header value: 400 that says so, not a URL story',
    async (char) => {
      const response = await raw(
        `GET /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nX-Note: a${char}b\r\nConnection: close\r\n\r\n`,
      );
      expectProblem(response, 400, 'MALFORMED_REQUEST');
      const detail = JSON.parse(response.body).detail as string;
      expect(detail).toContain('header');
      expect(detail).not.toContain('URL');
    },
  );

  it('a control character in a header name: the same', async () => {
    const response = await raw(
      `GET /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nX-N\x01te: a\r\nConnection: close\r\n\r\n`,
    );
    expectProblem(response, 400, 'MALFORMED_REQUEST');
    expect(JSON.parse(response.body).detail).toContain('header');
  });

  it('a readable request on the same server still works', async () => {
    const { key } = await seedLicense(server);
    const { response } = await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
    expect(response.status).toBe(201);
  });
});
