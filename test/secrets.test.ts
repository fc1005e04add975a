import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretRing, secretId } from '../src/core/sealing.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { generateLicenseKey } from '../src/keys/license-key.ts';
import { LicensesService } from '../src/licenses/licenses.service.ts';
import { openPrivateKey } from '../src/offline/signing-keys.ts';
import { resealAll, rotateCheck, secretsSeed } from '../src/runtime.ts';
import { attemptTarget } from '../src/webhooks/attempts.ts';
import { generateSigningSecret } from '../src/webhooks/signing.ts';
import { dumpDatabase, encodings } from './support/dump.ts';
import { TEST_SECRET, useApiKey, useTestServer } from './support/harness.ts';

const server = useTestServer({ webhookAddresses: { allowPrivate: true } });
const admin = useApiKey(server, ['admin']);

/** A POST with an Idempotency-Key: its response is stored (encrypted) for replays. */
async function idempotent(path: string, body: unknown): Promise<{ data: Record<string, unknown> }> {
  const response = await fetch(`${server.apiUrl}${path}`, {
    method: 'POST',
    headers: { ...admin, 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { data: Record<string, unknown> };
}

/** The forms a webhook secret could be stored in: as shown, its key's base64, its key's bytes. */
function webhookSecretForms(secret: string): string[] {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return [secret, ...encodings(key)];
}

describe('secrets at rest', () => {
  it('are in no form in a dump of the database: webhook secrets, private keys, tokens, license keys, the server secret', async () => {
    const policy = await server.client.POST('/policies', { headers: admin, body: { name: 'dump' } });
    const license = await idempotent('/licenses', { policyId: policy.data!.data.id });
    const seeded = await server.services().licenses.create({ policyId: policy.data!.data.id });
    const apiKey = await idempotent('/api-keys', { name: 'dump', scopes: ['licenses:read'] });

    const hook = await server.client.POST('/webhook-endpoints', {
      headers: admin,
      body: { url: 'https://hooks.example.com/dump' },
    });
    expect(hook.response.status).toBe(201);
    // A rotation keeps the replaced secret beside the new one for a day: both are stored.
    const rotated = await server.client.POST('/webhook-endpoints/{id}/actions/rotate-secret', {
      headers: admin,
      params: { path: { id: hook.data!.data.id } },
    });
    expect(rotated.response.status).toBe(200);
    const unrotated = await server.client.POST('/webhook-endpoints', {
      headers: admin,
      body: { url: 'https://hooks.example.com/dump-2' },
    });
    await server.services().signingKeys.rotate();

    const { text: dump } = await dumpDatabase(server.orm);
    // The rows are there: what is looked for would be found in them.
    for (const id of [license.data.id, seeded.license.id, apiKey.data.id, hook.data!.data.id])
      expect(dump).toContain(id as string);

    const secrets: string[] = [
      TEST_SECRET,
      ...webhookSecretForms(hook.data!.data.secret),
      ...webhookSecretForms(rotated.data!.data.secret),
      ...webhookSecretForms(unrotated.data!.data.secret),
    ];
    for (const key of [license.data.key as string, seeded.key])
      secrets.push(key, key.replaceAll('-', ''), key.split('-').slice(1, 4).join('-'));
    secrets.push(apiKey.data.token as string, admin.Authorization!.replace('Bearer ', ''));
    const keys = await server.sql<{ id: string; private_key_encrypted: Buffer }>(
      'select id, private_key_encrypted from signing_keys',
    );
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const { id, private_key_encrypted } of keys) {
      const privateKey = openPrivateKey(private_key_encrypted, id, TEST_SECRET);
      secrets.push(
        ...encodings(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url')),
        ...encodings(privateKey.export({ format: 'der', type: 'pkcs8' })),
      );
    }
    const haystack = dump.toLowerCase();
    for (const secret of secrets) expect(haystack.includes(secret.toLowerCase()), secret).toBe(false);
    expect(dump).not.toContain('PRIVATE KEY');
    expect(dump).not.toContain('whsec_');
  });

  it('seals a webhook secret stored plain before the upgrade on the next start, and signs with it meanwhile', async () => {
    const hook = await server.client.POST('/webhook-endpoints', {
      headers: admin,
      body: { url: 'https://hooks.example.com/legacy', eventTypes: ['license.suspended'] },
    });
    const id = hook.data!.data.id;
    // As the previous release stored it: plain, no seal, no secret id.
    const plain = generateSigningSecret();
    await server.sql(
      'update webhook_endpoints set secret = $1, secret_sealed = null, previous_secret_sealed = null, secret_id = null where id = $2',
      [plain, id],
    );
    const message = randomUUID();
    await server.sql(
      `insert into webhook_messages (id, endpoint_id, type, payload, created_at) values ($1, $2, 'webhook-endpoint.test', '{}', now())`,
      [message, id],
    );
    const ring = new SecretRing(TEST_SECRET);
    expect((await attemptTarget(server.orm, message, ring))!.secret).toBe(plain);
    expect(await rotateCheck(server.orm.em.fork(), ring)).toContainEqual({
      kind: 'webhook_endpoints.secret (plain)',
      secretId: 'none',
      inRing: true,
      count: 1,
    });

    // What a start does: the seed under the migration lock, then the re-sealing.
    await server.orm.em.fork().transactional((em) => secretsSeed(ring)(em));
    expect((await resealAll(server.orm.em.fork(), ring)).webhookSecrets).toBeGreaterThanOrEqual(1);
    const [row] = await server.sql<{ secret: string | null; secret_sealed: Buffer | null; secret_id: string }>(
      'select secret, secret_sealed, secret_id from webhook_endpoints where id = $1',
      [id],
    );
    expect(row).toMatchObject({ secret: null, secret_id: secretId(TEST_SECRET) });
    expect(row!.secret_sealed!.toString('utf8')).not.toContain(plain);
    expect((await attemptTarget(server.orm, message, ring))!.secret).toBe(plain);
    expect(await rotateCheck(server.orm.em.fork(), ring)).toEqual([]);
  });

  it('does not open a sealed webhook secret under another server secret, nor one copied onto another endpoint', async () => {
    const endpoints = [];
    for (const name of ['one', 'two']) {
      const created = await server.client.POST('/webhook-endpoints', {
        headers: admin,
        body: { url: `https://hooks.example.com/${name}`, eventTypes: ['license.suspended'] },
      });
      endpoints.push(created.data!.data);
    }
    const message = randomUUID();
    await server.sql(
      `insert into webhook_messages (id, endpoint_id, type, payload, created_at) values ($1, $2, 'webhook-endpoint.test', '{}', now())`,
      [message, endpoints[1]!.id],
    );
    const other = new SecretRing('another-server-secret-0123456789abcdefghij');
    await expect(attemptTarget(server.orm, message, other)).rejects.toThrow(/opens with no secret/);
    await server.sql(
      'update webhook_endpoints set secret_sealed = (select secret_sealed from webhook_endpoints where id = $1) where id = $2',
      [endpoints[0]!.id, endpoints[1]!.id],
    );
    await expect(attemptTarget(server.orm, message, new SecretRing(TEST_SECRET))).rejects.toThrow(
      /opens with no secret/,
    );
  });
});

describe('authenticating by key during a rotation', () => {
  const A = 'authentication-secret-A-0123456789abcdefgh';
  const B = 'authentication-secret-B-0123456789abcdefgh';

  /** A license service on its own unit of work, counting the statements it sends. */
  function counted(hasher: KeyHasher): { licenses: LicensesService; statements: () => number } {
    const em = server.orm.em.fork();
    const execute = em.execute.bind(em);
    let statements = 0;
    em.execute = ((...args: Parameters<typeof execute>) => {
      statements += 1;
      return execute(...args);
    }) as typeof em.execute;
    return { licenses: new LicensesService(em, server.clock, CLI_ACTOR, hasher), statements: () => statements };
  }

  async function licenseUnder(secret: string): Promise<{ id: string; key: string }> {
    const services = server.services();
    const policy = await services.policies.create({ name: `rotation ${randomUUID()}` });
    const created = await new LicensesService(
      server.orm.em.fork(),
      server.clock,
      CLI_ACTOR,
      new KeyHasher(secret),
    ).create({
      policyId: policy.id,
    });
    return { id: created.license.id, key: created.key };
  }

  it('costs one lookup without previous secrets, and a second only on a miss when some are configured', async () => {
    const unknown = generateLicenseKey('TST');
    const alone = counted(new KeyHasher(B));
    expect(await alone.licenses.authenticate(unknown)).toBeNull();
    expect(alone.statements()).toBe(1);

    const current = await licenseUnder(B);
    const ring = counted(new KeyHasher(new SecretRing(B, [A])));
    expect((await ring.licenses.authenticate(current.key))?.id).toBe(current.id);
    expect(ring.statements()).toBe(1);
    expect(await ring.licenses.authenticate(unknown)).toBeNull();
    expect(ring.statements()).toBe(3);
  });

  it('re-hashes a key under the current secret once, however many requests present it at once', async () => {
    const former = await licenseUnder(A);
    const hasher = new KeyHasher(new SecretRing(B, [A]));
    const found = await Promise.all(
      Array.from({ length: 8 }, () =>
        new LicensesService(server.orm.em.fork(), server.clock, CLI_ACTOR, hasher).authenticate(former.key),
      ),
    );
    expect(found.map((license) => license?.id)).toEqual(Array(8).fill(former.id));
    const [row] = await server.sql<{ key_hash: Buffer; key_secret_id: string }>(
      'select key_hash, key_secret_id from licenses where id = $1',
      [former.id],
    );
    expect(row!.key_hash.equals(new KeyHasher(B).hash('license-key', former.key))).toBe(true);
    expect(row!.key_secret_id).toBe(secretId(B));
    // Found under the current secret from now on: one lookup again.
    const after = counted(hasher);
    expect((await after.licenses.authenticate(former.key))?.id).toBe(former.id);
    expect(after.statements()).toBe(1);
    // A request that misses the current hash just before another re-hashes the key still finds it.
    const raced = await licenseUnder(A);
    const em = server.orm.em.fork();
    const execute = em.execute.bind(em);
    let statements = 0;
    em.execute = (async (...args: Parameters<typeof execute>) => {
      const result = await execute(...args);
      if (++statements === 1)
        expect(
          (await new LicensesService(server.orm.em.fork(), server.clock, CLI_ACTOR, hasher).authenticate(raced.key))
            ?.id,
        ).toBe(raced.id);
      return result;
    }) as typeof em.execute;
    expect((await new LicensesService(em, server.clock, CLI_ACTOR, hasher).authenticate(raced.key))?.id).toBe(raced.id);
    // A key whose secret is not in the ring is not found, and nothing is written.
    const stranger = await licenseUnder(A);
    expect(
      await new LicensesService(server.orm.em.fork(), server.clock, CLI_ACTOR, new KeyHasher(B)).authenticate(
        stranger.key,
      ),
    ).toBeNull();
  });
});
