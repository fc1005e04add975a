import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRANSPORT_TIMEOUTS } from '../src/config.ts';
import { createHttpServer } from '../src/http/transport.ts';
import { createLogger } from '../src/log.ts';
import {
  activate,
  type Credentials,
  licenseAuth,
  seedPolicyAndLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

/**
 * The hot path (hot-path.ts) answers heartbeats and validations before Express and
 * openapi-backend. Each request here goes to the server as it listens (hot path first) and to its
 * Express app alone (the pipeline every other operation takes), on the same database, clock and
 * signing key, and the two answers must be the same bytes: status, headers (all but `Date`) and
 * body. The hot path's count says which requests it answered and which it handed on.
 */
/** The access lines of the request id both sends use, in the order they were written. */
const accessLines: Record<string, unknown>[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => {
  for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.msg === 'request' && line.requestId === REQUEST_ID) accessLines.push(line);
  }
});
const REQUEST_ID = 'hot-path-test';

const server = useTestServer({ logTo: logStream });
const admin = useApiKey(server, ['admin']);

let pipelineOnly: Server;
let pipelineUrl: string;

beforeAll(async () => {
  pipelineOnly = createHttpServer(
    server.app.express,
    DEFAULT_TRANSPORT_TIMEOUTS,
    createLogger('silent'),
    server.app.responseSigner,
  );
  await new Promise<void>((resolve) => pipelineOnly.listen(0, '127.0.0.1', resolve));
  pipelineUrl = `http://127.0.0.1:${(pipelineOnly.address() as AddressInfo).port}`;
});

afterAll(async () => {
  pipelineOnly.closeAllConnections();
  await new Promise((resolve) => pipelineOnly.close(resolve));
});

interface Sent {
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function answer(base: string, { path, headers = {}, body }: Sent): Promise<Answer> {
  const response = await fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    // One request id for both, so the answers can be the same bytes.
    headers: { 'X-Request-Id': REQUEST_ID, ...headers },
    body,
  });
  const all = Object.fromEntries(response.headers);
  delete all.date;
  return { status: response.status, headers: all, body: await response.text() };
}

/**
 * The request's answer from both, which must be the same; whether the hot path answered it
 * (`hot`) or handed it on. A request that changes state (a heartbeat) is sent to the hot path
 * second, so both see the state the first left.
 */
async function same(sent: Sent, hot: boolean): Promise<Answer> {
  const viaPipeline = await answer(pipelineUrl, sent);
  const before = server.app.hotPath.answered;
  const viaHotPath = await answer(server.baseUrl, sent);
  expect(server.app.hotPath.answered - before, `answered by the hot path: ${sent.path}`).toBe(hot ? 1 : 0);
  expect(viaHotPath).toEqual(viaPipeline);
  // Each writes its access line when its response is finished, which may come after the client
  // has read it: the same fields but the time each took.
  for (let waited = 0; accessLines.length < 2 && waited < 100; waited++) await new Promise((r) => setTimeout(r, 10));
  const [pipelineLine, hotLine] = accessLines.splice(0).map(({ time: _t, ms: _ms, ...line }) => line);
  expect(hotLine).toEqual(pipelineLine);
  return viaHotPath;
}

const JSON_TYPE = { 'Content-Type': 'application/json' };
const SIGNED = { 'Accept-Signature': 'sig1=("@status" "content-digest");alg="ed25519"' };
let seq = 0;

async function licensed(overrides: Record<string, unknown> = {}) {
  const license = await seedPolicyAndLicense(server, admin, {
    name: `hot ${++seq}`,
    maxMachines: 5,
    requireHeartbeat: true,
    heartbeatDuration: 600,
    maxProcesses: 2,
    processHeartbeatDuration: 300,
    ...overrides,
  });
  const machine = await activate(server, license.key, { fingerprint: `hot-fingerprint-${seq}` });
  return { ...license, machine, auth: licenseAuth(license.key) as Credentials };
}

describe('the hot path answers as the pipeline does', () => {
  it('machine heartbeats: alive, signed, with a JSON type and no body, and each refusal', async () => {
    const { machine, auth } = await licensed();
    const other = await licensed();
    const path = `/machines/${machine.id}/heartbeat`;
    const alive = await same({ path, headers: auth }, true);
    expect(alive.status).toBe(200);
    expect(JSON.parse(alive.body).data.heartbeatStatus).toBe('ALIVE');
    const signed = await same({ path, headers: { ...auth, ...SIGNED } }, true);
    expect(signed.headers.signature).toMatch(/^sig1=:/);
    expect((await same({ path, headers: { ...auth, ...JSON_TYPE } }, true)).status).toBe(200);
    // Refused by the handler, the license checks or authentication, in the hot path.
    expect((await same({ path, headers: other.auth }, true)).status).toBe(404);
    expect(
      (await same({ path: '/machines/0190a0a0-0000-7000-8000-000000000000/heartbeat', headers: auth }, true)).status,
    ).toBe(404);
    expect((await same({ path }, true)).status).toBe(401);
    expect((await same({ path, headers: { Authorization: 'License not-a-key' } }, true)).status).toBe(401);
    expect((await same({ path, headers: { Authorization: 'Bearer lct_nothing' } }, true)).status).toBe(401);
    expect(
      (await same({ path, headers: { ...auth, ...SIGNED, Authorization: 'License WRONG-KEY' } }, true)).status,
    ).toBe(401);
    // Handed on: an id the schema refuses, a query, a body, a path it does not take as it is.
    expect((await same({ path: '/machines/not-a-uuid/heartbeat', headers: auth }, false)).status).toBe(400);
    expect((await same({ path: `${path}?x=1`, headers: auth }, false)).status).toBe(400);
    expect((await same({ path, headers: { ...auth, ...JSON_TYPE }, body: '{}' }, false)).status).toBe(200);
    expect((await same({ path: `${path}/`, headers: auth }, false)).status).toBe(200);
    expect((await same({ path, headers: { ...auth, 'Accept-Signature': 'x'.repeat(1100) } }, false)).status).toBe(400);
  });

  it('a suspended license and a dead machine', async () => {
    const { machine, auth, licenseId } = await licensed();
    const path = `/machines/${machine.id}/heartbeat`;
    server.clock.advance(3_600_000);
    // Dead past its window (a 600 s heartbeat): refused, the same way twice.
    const dead = await same({ path, headers: auth }, true);
    expect(dead.status).toBe(422);
    const suspend = await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: admin,
      params: { path: { id: licenseId } },
    });
    expect(suspend.response.status).toBe(200);
    expect((await same({ path, headers: auth }, true)).status).toBe(403);
  });

  it('process heartbeats', async () => {
    const { machine, auth } = await licensed();
    const spawned = await server.client.POST('/machines/{id}/processes', {
      headers: auth,
      params: { path: { id: machine.id } },
      body: {},
    });
    expect(spawned.response.status).toBe(201);
    const path = `/processes/${spawned.data!.data.id}/heartbeat`;
    expect((await same({ path, headers: auth }, true)).status).toBe(200);
    expect((await same({ path, headers: { ...auth, ...SIGNED } }, true)).status).toBe(200);
    expect(
      (await same({ path: '/processes/0190a0a0-0000-7000-8000-000000000000/heartbeat', headers: auth }, true)).status,
    ).toBe(404);
  });

  it('activations: a replay by Idempotency-Key, each refusal, and a new machine', async () => {
    const { auth, licenseId } = await licensed({ maxMachines: 3 });
    const path = '/machines';
    const activation = (fingerprint: string, more: Record<string, string> = {}) => ({
      path,
      headers: { ...auth, ...JSON_TYPE, ...more },
      body: JSON.stringify({ fingerprint, name: 'hot path' }),
    });
    // The pipeline activates; then each replays the stored answer for the same key.
    const keyed = activation('hot-activation-1', { 'Idempotency-Key': `key-${licenseId}`, ...SIGNED });
    expect((await answer(pipelineUrl, keyed)).status).toBe(201);
    for (let waited = 0; accessLines.length < 1 && waited < 100; waited++) await new Promise((r) => setTimeout(r, 10));
    accessLines.splice(0);
    const replayed = await same(keyed, true);
    expect(replayed.status).toBe(201);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    // Refusals change nothing, so both answer them alike.
    expect(JSON.parse((await same(activation('hot-activation-1'), true)).body).code).toBe('FINGERPRINT_TAKEN');
    const second = await server.client.POST('/machines', { headers: auth, body: { fingerprint: 'hot-activation-2' } });
    expect(second.response.status).toBe(201);
    expect(JSON.parse((await same(activation('hot-activation-3'), true)).body).code).toBe('MACHINE_LIMIT_EXCEEDED');
    expect(
      (
        await same(
          { ...activation('hot-activation-3'), headers: { ...JSON_TYPE, Authorization: 'License WRONG-KEY' } },
          true,
        )
      ).status,
    ).toBe(401);
    // Handed on: a body the schema or the media type refuses.
    expect((await same({ ...activation('short'), body: '{"fingerprint":"short"}' }, false)).status).toBe(400);
    expect((await same({ ...activation('x'), headers: { ...auth, 'Content-Type': 'text/plain' } }, false)).status).toBe(
      415,
    );
    expect((await same({ path, headers: auth }, false)).status).toBe(400);

    // A new machine, on the hot path alone: what the API then shows of it.
    const fresh = await licensed();
    const before = server.app.hotPath.answered;
    const created = await fetch(`${server.apiUrl}/machines`, {
      method: 'POST',
      headers: { ...fresh.auth, ...JSON_TYPE },
      body: JSON.stringify({ fingerprint: 'hot-activation-new', cores: 4 }),
    });
    expect(server.app.hotPath.answered - before).toBe(1);
    expect(created.status).toBe(201);
    const machine = ((await created.json()) as { data: { id: string } }).data;
    const read = await server.client.GET('/machines/{id}', { headers: admin, params: { path: { id: machine.id } } });
    expect(read.data!.data).toEqual(machine);
    accessLines.splice(0);
  });

  it('validations: valid, scoped, signed with a nonce, and each refusal', async () => {
    const { auth, machine } = await licensed();
    const path = '/licenses/actions/validate';
    const body = (value: unknown) => ({ path, headers: { ...auth, ...JSON_TYPE }, body: JSON.stringify(value) });
    const valid = await same(body({ fingerprint: machine.fingerprint }), true);
    expect(JSON.parse(valid.body).data.valid).toBe(true);
    expect((await same({ path, headers: auth }, true)).status).toBe(200);
    const signed = await same(
      { ...body({ fingerprint: machine.fingerprint, nonce: 'n-1' }), headers: { ...auth, ...JSON_TYPE, ...SIGNED } },
      true,
    );
    expect(JSON.parse(signed.body).meta).toEqual({ nonce: 'n-1' });
    expect(signed.headers['content-digest']).toMatch(/^sha-256=:/);
    expect(JSON.parse((await same(body({ fingerprint: 'hot-not-activated' }), true)).body).data.code).toBe(
      'FINGERPRINT_NOT_ACTIVATED',
    );
    expect(JSON.parse((await same(body({ entitlements: ['NOT_GRANTED'] }), true)).body).data.code).toBe(
      'ENTITLEMENTS_MISSING',
    );
    expect(
      JSON.parse((await same(body({ fingerprints: [machine.fingerprint, 'hot-other'] }), true)).body).data.valid,
    ).toBe(true);
    // The handler's own refusal, and authentication's.
    expect(
      (await same(body({ fingerprint: machine.fingerprint, fingerprints: [machine.fingerprint] }), true)).status,
    ).toBe(400);
    expect(
      (await same({ ...body({}), headers: { ...JSON_TYPE, Authorization: 'License WRONG-KEY' } }, true)).status,
    ).toBe(401);
    expect((await same({ ...body({}), headers: JSON_TYPE }, true)).status).toBe(401);
    // Handed on, refused by the pipeline in its order (authentication first).
    expect((await same(body({ fingerprint: 'short' }), false)).status).toBe(400);
    expect((await same(body({ unknown: 1 }), false)).status).toBe(400);
    expect((await same(body([]), false)).status).toBe(400);
    expect((await same({ path, headers: { ...auth, ...JSON_TYPE }, body: '{"fingerprint":' }, false)).status).toBe(400);
    expect((await same({ path, headers: { ...auth, 'Content-Type': 'text/plain' }, body: '{}' }, false)).status).toBe(
      415,
    );
    expect(
      (await same({ path, headers: { ...JSON_TYPE, Authorization: 'License WRONG-KEY' }, body: '{"x":' }, false))
        .status,
    ).toBe(401);
    expect((await same({ path: `${path}?x=1`, headers: auth }, false)).status).toBe(400);
  });
});
