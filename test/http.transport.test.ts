import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  bearer,
  licenseAuth,
  machineBody,
  type Problem,
  seedApiKey,
  seedLicense,
  useTestServer,
} from './support/harness.ts';

interface SpecOperation {
  operationId: string;
  summary: string;
  description: string;
  responses: Record<string, { content: Record<string, unknown> }>;
  security?: Record<string, unknown>[];
}
interface Spec {
  openapi: string;
  components: { securitySchemes: Record<string, unknown> };
  paths: Record<string, Record<string, SpecOperation>>;
}

const logLines: Record<string, unknown>[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
});

const server = useTestServer({ logTo: logStream });

describe('request ids', () => {
  it('echoes a valid X-Request-Id, and puts it in the problem body and every log line of the request', async () => {
    const response = await fetch(`${server.apiUrl}/machines`, { headers: { 'X-Request-Id': 'client-req.42:a_b' } });
    expect(response.headers.get('x-request-id')).toBe('client-req.42:a_b');
    expect(((await response.json()) as Problem).requestId).toBe('client-req.42:a_b');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logLines.filter((l) => l.requestId === 'client-req.42:a_b');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ method: 'GET', path: '/machines', status: 401 });
  });

  it('generates one when none is sent, different per request', async () => {
    const a = await fetch(`${server.baseUrl}/healthz`);
    const b = await fetch(`${server.apiUrl}/machines`);
    const [ida, idb] = [a.headers.get('x-request-id'), b.headers.get('x-request-id')];
    expect(ida).toMatch(/^[0-9a-f-]{36}$/);
    expect(idb).toMatch(/^[0-9a-f-]{36}$/);
    expect(ida).not.toBe(idb);
  });

  it('replaces one that is too long or could forge log lines', async () => {
    for (const offered of ['x'.repeat(129), '{"msg":"forged"}', 'a b', 'ünï']) {
      const response = await fetch(`${server.apiUrl}/machines`, { headers: { 'X-Request-Id': offered } });
      expect(response.headers.get('x-request-id')).not.toBe(offered);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('is on successful responses too', async () => {
    const { key } = await seedLicense(server);
    const { response } = await server.client.POST('/machines', {
      headers: { ...licenseAuth(key), 'X-Request-Id': 'abc' },
      body: machineBody(),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-request-id')).toBe('abc');
  });
});

describe('routing errors are problems too', () => {
  it('unknown API route → 404 NOT_FOUND', async () => {
    const response = await fetch(`${server.apiUrl}/nothing-here`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
      type: 'urn:licentric:problem:not-found',
    });
  });

  it('unknown route outside the API → 404 NOT_FOUND', async () => {
    const response = await fetch(`${server.baseUrl}/wp-admin`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each([
    ['PUT', '/machines', 'GET, POST'],
    ['PATCH', '/machines/01a21b05-0000-7000-8000-000000000000', 'GET, DELETE'],
    ['GET', '/machines/01a21b05-0000-7000-8000-000000000000/heartbeat', 'POST'],
    // A fixed path beside a templated one of the same shape names its own methods only.
    ['OPTIONS', '/api-keys/current', 'GET'],
    ['PATCH', '/machines/review-queue', 'GET'],
    ['OPTIONS', '/api-keys/01a21b05-0000-7000-8000-000000000000', 'GET, DELETE'],
    // Routed to DELETE /api-keys/{id} by its shape, but the path is the fixed resource's.
    ['DELETE', '/api-keys/current', 'GET'],
    ['DELETE', '/machines/review-queue/', 'GET'],
  ])('%s %s → 405 METHOD_NOT_ALLOWED with Allow: %s', async (method, path, allow) => {
    const response = await fetch(`${server.apiUrl}${path}`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(await response.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED', status: 405 });
  });

  it('HEAD behaves as GET without a body', async () => {
    const token = await seedApiKey(server, ['machines:read']);
    const response = await fetch(`${server.apiUrl}/machines`, { method: 'HEAD', headers: bearer(token) });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });

  it('a trailing slash routes to the same operation', async () => {
    const token = await seedApiKey(server, ['machines:read']);
    expect((await fetch(`${server.apiUrl}/machines/`, { headers: bearer(token) })).status).toBe(200);
  });
});

describe('the contract and health endpoints', () => {
  it('serves the generated document as YAML and JSON, the same document', async () => {
    const yaml = await fetch(`${server.baseUrl}/openapi.yaml`);
    expect(yaml.status).toBe(200);
    expect(yaml.headers.get('content-type')).toMatch(/yaml/);
    const json = await fetch(`${server.baseUrl}/openapi.json`);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const fromJson = (await json.json()) as Spec;
    expect(parse(await yaml.text())).toEqual(fromJson);
    expect(fromJson.openapi).toBe('3.1.0');
    expect(fromJson.components.securitySchemes.License).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'License' }),
    );
    expect(fromJson.components.securitySchemes.ApiKey).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'Bearer' }),
    );
  });

  it('every operation has an explicit operationId, a summary, a description and declared errors as problem+json', async () => {
    const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as Spec;
    const ids: string[] = [];
    for (const item of Object.values(spec.paths)) {
      for (const op of Object.values(item)) {
        ids.push(op.operationId);
        expect(op.summary, op.operationId).toBeTruthy();
        expect(op.description, op.operationId).toBeTruthy();
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400)
            expect(Object.keys(response.content), `${op.operationId} ${status}`).toEqual(['application/problem+json']);
        }
        // A public operation (`security: [{}]`, the published signing keys) checks no credentials: no 401.
        const isPublic = (op.security ?? []).some((requirement) => Object.keys(requirement).length === 0);
        for (const status of ['400', ...(isPublic ? [] : ['401']), '500'])
          expect(op.responses, `${op.operationId} declares ${status}`).toHaveProperty(status);
        if (isPublic) expect(op.responses, `${op.operationId} declares no 401`).not.toHaveProperty('401');
      }
    }
    expect(ids).toEqual(
      expect.arrayContaining([
        'activateMachine',
        'deactivateMachine',
        'getMachine',
        'listMachines',
        'pingMachineHeartbeat',
      ]),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('/healthz answers while the process runs; /readyz checks the database', async () => {
    expect(await (await fetch(`${server.baseUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${server.baseUrl}/readyz`)).json()).toEqual({ status: 'ok' });
  });
});
