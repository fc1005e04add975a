import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { answerParserErrors } from '../src/http/parser-errors.ts';
import { createLogger } from '../src/log.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { seedApiKey, TEST_SECRET, useTestServer } from './support/harness.ts';

/**
 * What Node's HTTP parser refuses never reaches Express; the server must still answer it with a
 * problem body and a request id (the README promises both on every response). Raw sockets,
 * because fetch refuses to send such requests at all.
 */

const database = useTestServer();

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` as bytes and reads until the server closes the connection. */
function raw(port: number, request: Buffer | string, keepOpen = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(request);
    if (!keepOpen) socket.end();
  });
}

function expectProblem(response: RawResponse, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const requestId = response.headers['x-request-id'];
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(JSON.parse(response.body)).toMatchObject({
    status,
    code,
    requestId,
    type: `urn:licentric:problem:${code.toLowerCase().replace(/_/g, '-')}`,
  });
}

describe('requests the HTTP parser refuses, on the server `serve` runs', () => {
  let running: RunningServer;

  beforeAll(async () => {
    // An existing key, so the start does not mint (and print) a first admin key.
    await seedApiKey(database, ['admin']);
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: database.databaseUrl,
      LICENTRIC_SECRET: TEST_SECRET,
      LOG_LEVEL: 'silent',
      LICENTRIC_CULL_IN_SERVER: 'false',
    });
    running = await startServer(config, createLogger('silent'));
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('a pasted URL with a raw non-ASCII character: 400 MALFORMED_REQUEST with a request id', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /api/v1/machines?licenseId='),
      Buffer.from('01a2é', 'utf8'),
      Buffer.from(' HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    ]);
    const response = await raw(running.port, request);
    expectProblem(response, 400, 'MALFORMED_REQUEST');
    expect(JSON.parse(response.body).detail).toContain('percent-encode');
  });

  it('headers past the limit: 431 HEADERS_TOO_LARGE', async () => {
    const response = await raw(
      running.port,
      `GET /api/v1/machines HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
    );
    expectProblem(response, 431, 'HEADERS_TOO_LARGE');
  });

  it('leaves a readable request alone', async () => {
    const response = await raw(running.port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(response.status).toBe(200);
  });
});

describe('a request that never finishes arriving', () => {
  let http: Server;

  beforeAll(async () => {
    // Node's own timeouts, made short: the default wait for headers is a minute.
    http = createServer({ headersTimeout: 300, requestTimeout: 300, connectionsCheckingInterval: 50 }, (_req, res) =>
      res.end(),
    );
    answerParserErrors(http, createLogger('silent'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  it('408 REQUEST_TIMEOUT with a request id', async () => {
    const { port } = http.address() as AddressInfo;
    const response = await raw(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Half: ', true);
    expectProblem(response, 408, 'REQUEST_TIMEOUT');
  });
});
