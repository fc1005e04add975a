import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { paths } from '../generated/api.d.ts';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { SecretRing, secretId } from '../src/core/sealing.ts';
import { initOrm, migrate, type Orm } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { ApiKeysService } from '../src/keys/api-keys.service.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { createLogger } from '../src/log.ts';
import { verifyFile } from '../src/offline/file.ts';
import type { SecretDependants } from '../src/runtime.ts';
import { secretsSeed } from '../src/runtime.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { createWebhookEngine } from '../src/webhooks/engine.ts';
import { type Credentials, createDatabase, licenseAuth, machineBody } from './support/harness.ts';
import { runCli } from './support/processes.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Rotating LICENTRIC_SECRET end to end, through HTTP on a real server start: everything made
 * under secret A keeps working under B with A as a previous secret, moves under B (sealed data on
 * the start, hashes on first use), and then works under B alone.
 */

const A = 'rotation-secret-A-0123456789abcdefghijklmnop';
const B = 'rotation-secret-B-0123456789abcdefghijklmnop';
const WRONG = 'rotation-secret-W-0123456789abcdefghijklmnop';

const log = createLogger('silent');
const receiver = new Receiver();
let databaseUrl: string;
let orm: Orm;
let running: RunningServer | undefined;
let client: ReturnType<typeof createClient<paths>>;

function environment(secret: string, previous: string[]): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    LICENTRIC_SECRET: secret,
    LICENTRIC_PREVIOUS_SECRETS: previous.join(','),
    LOG_LEVEL: 'warn',
  };
}

/** Stops the running server (if any) and starts one with these secrets, as an operator's restart does. */
async function restart(secret: string, previous: string[] = []): Promise<void> {
  await running?.stop();
  running = undefined;
  const config = loadConfig({
    ...environment(secret, previous),
    PORT: '0',
    LICENTRIC_WORKER_IN_SERVER: 'false',
    LICENTRIC_WEBHOOKS_IN_SERVER: 'false',
    LICENTRIC_WEBHOOKS_ALLOW_PRIVATE: 'true',
    LICENTRIC_RATE_LIMITS: 'off',
  });
  running = await startServer(config, log);
  client = createClient<paths>({ baseUrl: `http://127.0.0.1:${running.port}/api/v1` });
}

async function rotateCheck(
  secret: string,
  previous: string[] = [],
): Promise<{ code: number | null; dependants: SecretDependants[] }> {
  const run = await runCli(['secrets', 'rotate-check', '--json'], environment(secret, previous));
  expect(run.stderr).not.toMatch(/error/i);
  return { code: run.code, dependants: JSON.parse(run.stdout).dependants };
}

/** What was made under A, before the rotation. */
const made = {
  admin: {} as Credentials,
  reader: {} as Credentials,
  /** Used after the rotation. */
  license: { id: '', key: '' },
  /** Not used until a server with a wrong previous secret has refused it. */
  idle: { id: '', key: '' },
  /** Made by an idempotent request, whose stored response holds it. */
  idempotent: { id: '', key: '', body: {} as Record<string, unknown> },
  policyId: '',
  machineId: '',
  fingerprint: '',
  signingKey: { id: '', publicKey: '' },
  hook: { id: '', path: '/hook/rotation', secret: '' },
};

const validate = (key: string) => client.POST('/licenses/actions/validate', { headers: licenseAuth(key) });

async function expectValid(key: string): Promise<void> {
  const { response, data, error } = await validate(key);
  expect(response.status, JSON.stringify(error)).toBe(200);
  expect(data!.data).toMatchObject({ valid: true, code: 'VALID' });
}

async function expectApiKeysWork(): Promise<void> {
  for (const credentials of [made.admin, made.reader]) {
    const { response } = await client.GET('/licenses/{id}', {
      headers: credentials,
      params: { path: { id: made.license.id } },
    });
    expect(response.status).toBe(200);
  }
}

/** A machine file checked out now: signed by the same key, verifying with the public key published before. */
async function expectSameSigningKey(): Promise<void> {
  const { response, data, error } = await client.POST('/machines/{id}/actions/check-out', {
    headers: licenseAuth(made.license.key),
    params: { path: { id: made.machineId } },
  });
  expect(response.status, JSON.stringify(error)).toBe(200);
  const file = (data as { data: { keyId: string; certificate: string } }).data;
  expect(file.keyId).toBe(made.signingKey.id);
  expect(
    verifyFile({
      kind: 'machine',
      certificate: file.certificate,
      publicKey: made.signingKey.publicKey,
      licenseKey: made.license.key,
      fingerprint: made.fingerprint,
    }),
  ).toMatchObject({ ok: true });
}

/** A test delivery, verified by the receiver under the webhook secret shown at creation, and only it. */
async function expectSameWebhookSecret(secrets: SecretRing): Promise<void> {
  const before = receiver.at(made.hook.path).length;
  const { response } = await client.POST('/webhook-endpoints/{id}/actions/send-test', {
    headers: made.admin,
    params: { path: { id: made.hook.id } },
  });
  expect(response.status).toBe(202);
  const engine = createWebhookEngine({
    databaseUrl,
    orm,
    clock: systemClock,
    log,
    policy: { allowPrivate: true },
    secrets,
    timeoutMs: 2000,
  });
  try {
    await engine.runDue();
  } finally {
    await engine.stop();
  }
  expect(receiver.refused).toEqual([]);
  expect(receiver.at(made.hook.path).length).toBe(before + 1);
}

async function replayIdempotent(): Promise<Response & { json(): Promise<unknown> }> {
  return fetch(`http://127.0.0.1:${running!.port}/api/v1/licenses`, {
    method: 'POST',
    headers: { ...made.admin, 'Content-Type': 'application/json', 'Idempotency-Key': 'rotation-1' },
    body: JSON.stringify({ policyId: made.policyId, name: 'idempotent' }),
  });
}

beforeAll(async () => {
  await receiver.start();
  databaseUrl = await createDatabase();
  orm = await initOrm({ clientUrl: databaseUrl, entities: ENTITIES, log, poolSize: 4 });
  // The first admin key, as a first start makes it (its token is printed, not returned).
  await migrate(orm, secretsSeed(new SecretRing(A)));
  const { token } = await new ApiKeysService(orm.em.fork(), systemClock, CLI_ACTOR, new KeyHasher(A)).create({
    name: 'admin',
    scopes: ['admin'],
  });
  made.admin = { Authorization: `Bearer ${token}` };

  await restart(A);
  const reader = await client.POST('/api-keys', {
    headers: made.admin,
    body: { name: 'reader', scopes: ['licenses:read'] },
  });
  expect(reader.response.status).toBe(201);
  made.reader = { Authorization: `Bearer ${reader.data!.data.token}` };
  const policy = await client.POST('/policies', { headers: made.admin, body: { name: 'rotation', maxMachines: 5 } });
  expect(policy.response.status).toBe(201);
  made.policyId = policy.data!.data.id;
  for (const which of ['license', 'idle'] as const) {
    const created = await client.POST('/licenses', { headers: made.admin, body: { policyId: made.policyId } });
    made[which] = { id: created.data!.data.id, key: created.data!.data.key };
  }
  const first = await replayIdempotent();
  expect(first.status).toBe(201);
  made.idempotent.body = (await first.json()) as Record<string, unknown>;
  const idempotent = made.idempotent.body.data as { id: string; key: string };
  made.idempotent = { ...made.idempotent, id: idempotent.id, key: idempotent.key };

  const machine = machineBody();
  made.fingerprint = machine.fingerprint;
  const activated = await client.POST('/machines', { headers: licenseAuth(made.license.key), body: machine });
  expect(activated.response.status).toBe(201);
  made.machineId = activated.data!.data.id;
  const keys = await client.GET('/signing-keys');
  const active = keys.data!.data.find((k) => k.status === 'active')!;
  made.signingKey = { id: active.id, publicKey: active.publicKey };

  const hook = await client.POST('/webhook-endpoints', {
    headers: made.admin,
    body: { url: `${receiver.url}${made.hook.path}`, eventTypes: ['license.suspended'] },
  });
  expect(hook.response.status).toBe(201);
  made.hook = { ...made.hook, id: hook.data!.data.id, secret: hook.data!.data.secret };
  receiver.secrets.set(made.hook.path, [made.hook.secret]);
  await expectSameWebhookSecret(new SecretRing(A));
  await expectSameSigningKey();
}, 60_000);

afterAll(async () => {
  await running?.stop();
  await orm?.close();
  await receiver.stop();
});

describe('rotating LICENTRIC_SECRET', () => {
  it('under A alone, nothing depends on a former secret', async () => {
    expect(await rotateCheck(A)).toEqual({ code: 0, dependants: [] });
  });

  it('under B with A previous: everything made under A works, sealed data moved on the start, hashes listed', async () => {
    await restart(B, [A]);
    const before = await rotateCheck(B, [A]);
    expect(before.code).toBe(1);
    // Licenses and API keys are re-hashed when used; what was sealed already moved on the start.
    expect(before.dependants).toEqual([
      { kind: 'licenses.key_hash', secretId: secretId(A), inRing: true, count: 3 },
      { kind: 'api_keys.token_hash', secretId: secretId(A), inRing: true, count: 2 },
    ]);
    const sealed = await orm.em
      .fork()
      .getConnection()
      .execute<{ n: number }[]>(
        `select (select count(*) from signing_keys where secret_id <> ?)
              + (select count(*) from webhook_endpoints where secret_id <> ? or secret is not null)
              + (select count(*) from idempotency_keys where secret_id <> ?) as n`,
        [secretId(B), secretId(B), secretId(B)],
      );
    expect(Number(sealed[0]!.n)).toBe(0);

    await expectValid(made.license.key);
    await expectApiKeysWork();
    // The stored response of the idempotent request is replayed, license key and all.
    const replay = await replayIdempotent();
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual(made.idempotent.body);
    await expectValid(made.idempotent.key);
    await expectSameSigningKey();
    await expectSameWebhookSecret(new SecretRing(B, [A]));

    // Re-hashed on use: only the license not used since is left under A.
    const [row] = await orm.em
      .fork()
      .getConnection()
      .execute<{ key_secret_id: string }[]>('select key_secret_id from licenses where id = ?', [made.license.id]);
    expect(row!.key_secret_id).toBe(secretId(B));
    expect(await rotateCheck(B, [A])).toEqual({
      code: 1,
      dependants: [{ kind: 'licenses.key_hash', secretId: secretId(A), inRing: true, count: 1 }],
    });
  });

  it('with a wrong previous secret, what is still under A is refused cleanly (401), the rest works', async () => {
    await restart(B, [WRONG]);
    const { response, error } = await validate(made.idle.key);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect((error as { code: string }).code).toBeTypeOf('string');
    await expectValid(made.license.key);
    await expectApiKeysWork();
    expect(await rotateCheck(B, [WRONG])).toEqual({
      code: 1,
      dependants: [{ kind: 'licenses.key_hash', secretId: secretId(A), inRing: false, count: 1 }],
    });
    // For people: a table of the same figures, and the way out.
    const human = await runCli(['secrets', 'rotate-check'], environment(B, [WRONG]));
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`Current secret: ${secretId(B)}; previous: ${secretId(WRONG)}`);
    expect(human.stdout).toMatch(new RegExp(`licenses\\.key_hash\\s+${secretId(A)}\\s+no\\s+1\\n`));
    for (const secret of [A, B, WRONG]) expect(human.stdout + human.stderr).not.toContain(secret);
  });

  it('once the last key under A is used, nothing depends on it, and B alone serves everything', async () => {
    await restart(B, [A]);
    await expectValid(made.idle.key);
    expect(await rotateCheck(B, [A])).toEqual({ code: 0, dependants: [] });

    await restart(B);
    for (const key of [made.license.key, made.idle.key, made.idempotent.key]) await expectValid(key);
    await expectApiKeysWork();
    await expectSameSigningKey();
    await expectSameWebhookSecret(new SecretRing(B));
    const replay = await replayIdempotent();
    expect(await replay.json()).toEqual(made.idempotent.body);
  });
});
