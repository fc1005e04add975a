import { createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { type EntityManager, initOrm, migrate, type Orm } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { createLogger } from '../src/log.ts';
import { machineFileDocument } from '../src/offline/documents.ts';
import { ed25519PublicKeyHex, encodeFile, verifyFile } from '../src/offline/file.ts';
import {
  activeSigningKey,
  ensureSigningKey,
  listSigningKeys,
  openPrivateKey,
  publicKeyForms,
  rotateSigningKey,
  signingPublicKey,
} from '../src/offline/signing-keys.ts';
import { openRuntime } from '../src/runtime.ts';
import { dumpDatabase } from './support/dump.ts';

const log = createLogger('warn', process.stderr);
const SECRET = 'signing-keys-test-secret-0123456789abcdef';
const orms: Orm[] = [];

afterAll(async () => {
  await Promise.all(orms.map((orm) => orm.close()));
});

/** A fresh, empty database (not the migrated template), as a first start finds it. */
async function emptyDatabase(): Promise<string> {
  const url = new URL(inject('serverUrl'));
  const name = `${inject('databasePrefix')}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

async function open(url: string): Promise<Orm> {
  const orm = await initOrm({ clientUrl: url, entities: ENTITIES, log, poolSize: 2 });
  orms.push(orm);
  return orm;
}

async function storedRows(orm: Orm) {
  return orm.em
    .fork()
    .getConnection()
    .execute<{ id: string; status: string; private_key_encrypted: Buffer }[]>(
      'select id, status, private_key_encrypted from signing_keys',
    );
}

describe('the first signing key', () => {
  it('is made exactly once when several processes start on a fresh database together', async () => {
    const url = await emptyDatabase();
    const replicas = await Promise.all([open(url), open(url), open(url)]);
    const applied = await Promise.all(replicas.map((orm) => migrate(orm, ensureSigningKey(SECRET))));

    // One replica ran every migration, signing keys among them; the others found nothing to do.
    expect(applied.filter((names) => names.includes('Migration20261205000000_signing_keys'))).toHaveLength(1);
    expect(applied.filter((names) => names.length === 0)).toHaveLength(2);
    const rows = await storedRows(replicas[0]!);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('active');

    // A later start keeps it.
    await migrate(replicas[1]!, ensureSigningKey(SECRET));
    expect((await storedRows(replicas[1]!)).map((row) => row.id)).toEqual([rows[0]!.id]);
  });

  it('is made by the first start of a process, sealed under LICENTRIC_SECRET', async () => {
    const url = await emptyDatabase();
    const runtime = await openRuntime(loadConfig({ DATABASE_URL: url, LICENTRIC_SECRET: SECRET }), log, {
      poolSize: 2,
    });
    try {
      const em = runtime.orm.em.fork();
      expect(await listSigningKeys(em)).toHaveLength(1);
      expect((await activeSigningKey(em, SECRET))?.key.status).toBe('active');
    } finally {
      await runtime.close();
    }
  });

  it('is made under the migration lock: replicas reaching it together take turns', async () => {
    // Nothing left to migrate, so every replica reaches the seed at once: only the lock orders
    // them. Each lingers in it, so seeds that were not serialised would overlap.
    const url = await emptyDatabase();
    await migrate(await open(url));
    const replicas = await Promise.all(Array.from({ length: 6 }, () => open(url)));
    let inside = 0;
    let mostInside = 0;
    const lingering = async (em: EntityManager) => {
      mostInside = Math.max(mostInside, ++inside);
      await new Promise((resolve) => setTimeout(resolve, 25));
      await ensureSigningKey(SECRET)(em);
      inside--;
    };
    await Promise.all(replicas.map((orm) => migrate(orm, lingering)));
    expect(mostInside).toBe(1);
    expect(await storedRows(replicas[0]!)).toHaveLength(1);
  });

  it('is stored sealed: the private key opens only with the server secret and on its own row', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const em = orm.em.fork();
    const active = await activeSigningKey(em, SECRET);
    expect(active).not.toBeNull();
    const { key, privateKey } = active!;

    // The opened private key is the public key's pair.
    const message = Buffer.from('machine/abc');
    expect(verify(null, message, signingPublicKey(key), sign(null, message, privateKey))).toBe(true);
    expect(key).toMatchObject({ algorithm: 'ed25519', status: 'active', retiredAt: null });
    expect(key.publicKey).toHaveLength(32);

    // Neither the raw private key nor its PKCS#8 encoding is in the row.
    const [row] = await storedRows(orm);
    const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    expect(row!.private_key_encrypted.includes(seed)).toBe(false);
    expect(row!.private_key_encrypted.includes(privateKey.export({ format: 'der', type: 'pkcs8' }))).toBe(false);

    expect(() => openPrivateKey(row!.private_key_encrypted, row!.id, `${SECRET}x`)).toThrow();
    expect(() => openPrivateKey(row!.private_key_encrypted, '019ad5a0-0000-7000-8000-000000000000', SECRET)).toThrow();
  });

  it('is in no form in a pg_dump of the database', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const em = orm.em.fork();
    await rotateSigningKey(em, SECRET, new Date(), CLI_ACTOR);
    const keys = await storedRows(orm);
    expect(keys).toHaveLength(2);
    const { tables, text: dump } = await dumpDatabase(orm);
    expect(tables).toContain('public.signing_keys');
    expect(dump).toContain(keys[0]!.id);
    for (const { id, private_key_encrypted } of keys) {
      const privateKey = openPrivateKey(private_key_encrypted, id, SECRET);
      const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      for (const bytes of [seed, pkcs8]) {
        for (const form of [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')]) {
          expect(dump.toLowerCase()).not.toContain(form.toLowerCase());
        }
      }
      expect(dump).not.toContain('PRIVATE KEY');
    }
  });

  it('allows one active key, whatever inserts it', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const [row] = await storedRows(orm);
    await expect(
      orm.em
        .fork()
        .getConnection()
        .execute(
          `insert into signing_keys (id, public_key, private_key_encrypted, status, created_at, activated_at)
           select '019ad5a0-0000-7000-8000-0000000000ff', public_key, private_key_encrypted, 'active', now(), now()
             from signing_keys where id = ?`,
          [row!.id],
        ),
    ).rejects.toThrow(/signing_keys_one_active/);
  });

  it('signs machine files that verify with its published public key', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const em = orm.em.fork();
    const { privateKey } = (await activeSigningKey(em, SECRET))!;
    const [published] = await listSigningKeys(em);
    const at = new Date();
    const machine = {
      id: '019ad5a0-0000-7000-8000-000000000003',
      licenseId: '019ad5a0-0000-7000-8000-000000000001',
      fingerprint: 'fp-1',
      name: null,
      platform: null,
      hostname: null,
      cores: null,
      requireHeartbeat: false,
      heartbeatStatus: 'NOT_STARTED',
      heartbeatDuration: null,
      lastHeartbeat: at,
      metadata: {},
      created: at,
      updated: at,
    };
    const certificate = encodeFile({
      kind: 'machine',
      payload: machineFileDocument({ machine, terms: { issued: at, ttl: 3600 } }),
      privateKey,
      encrypt: true,
      licenseKey: 'LIC-KEY',
      fingerprint: 'fp-1',
    });
    const publicKeyHex = published!.publicKey.toString('hex');
    expect(publicKeyHex).toBe(ed25519PublicKeyHex(signingPublicKey(published!)));
    expect(
      verifyFile({ kind: 'machine', certificate, publicKey: publicKeyHex, licenseKey: 'LIC-KEY', fingerprint: 'fp-1' }),
    ).toMatchObject({ ok: true, payload: { data: { id: machine.id } } });
  });
});

describe('rotation', () => {
  it('makes a new active key and keeps the old one published, so what it signed still verifies', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const em = orm.em.fork();
    const before = (await activeSigningKey(em, SECRET))!;
    const message = Buffer.from('license/signed-before-the-rotation');
    const signature = sign(null, message, before.privateKey);

    const now = new Date('2026-12-05T10:00:00.000Z');
    const rotated = await rotateSigningKey(orm.em.fork(), SECRET, now, CLI_ACTOR);
    expect(rotated).toMatchObject({ status: 'active', activatedAt: now, retiredAt: null });
    expect(rotated.id).not.toBe(before.key.id);

    const published = await listSigningKeys(orm.em.fork());
    expect(published.map((key) => [key.id, key.status])).toEqual([
      [rotated.id, 'active'],
      [before.key.id, 'retired'],
    ]);
    expect(published[1]!.retiredAt).toEqual(now);
    expect(verify(null, message, signingPublicKey(published[1]!), signature)).toBe(true);
    expect((await activeSigningKey(orm.em.fork(), SECRET))!.key.id).toBe(rotated.id);
  });

  it('leaves exactly one active key when rotations run at once', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const now = new Date();
    await Promise.all(Array.from({ length: 4 }, () => rotateSigningKey(orm.em.fork(), SECRET, now, CLI_ACTOR)));
    const published = await listSigningKeys(orm.em.fork());
    expect(published).toHaveLength(5);
    expect(published.filter((key) => key.status === 'active')).toHaveLength(1);
  });
});

describe('the published forms of a key', () => {
  it('are the same key as 64 hex characters, SPKI PEM and an RFC 8037 JWK with the kid', async () => {
    const orm = await open(await emptyDatabase());
    await migrate(orm, ensureSigningKey(SECRET));
    const em = orm.em.fork();
    const { key, privateKey } = (await activeSigningKey(em, SECRET))!;
    const forms = publicKeyForms(key);
    expect(forms.hex).toMatch(/^[0-9a-f]{64}$/);
    expect(forms.pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    expect(forms.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: key.id });

    const message = Buffer.from('machine/any');
    const signature = sign(null, message, privateKey);
    for (const publicKey of [
      createPublicKey(forms.pem),
      createPublicKey({ key: forms.jwk, format: 'jwk' }),
      createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(forms.hex, 'hex')]),
        format: 'der',
        type: 'spki',
      }),
    ]) {
      expect(verify(null, message, publicKey, signature)).toBe(true);
    }
  });
});
