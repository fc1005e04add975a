import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { uuidv7 } from '../core/ids.ts';
import type { EntityManager } from '../db/orm.ts';
import { asDate, execute, maybeDate, sql } from '../db/sql.ts';
import { ed25519PublicKeyFromHex } from './file.ts';

/**
 * Signing keys at rest. The private key is never stored in the clear: its PKCS#8 DER is sealed
 * with AES-256-GCM under a key derived from the server secret by HKDF-SHA-256, with the key's id
 * as additional data, so a database dump alone reveals nothing and a sealed key copied onto
 * another row does not open.
 */

export type SigningKeyStatus = 'active' | 'retired';

export interface SigningKey {
  /** The `kid`: a UUIDv7. */
  id: string;
  algorithm: 'ed25519';
  /** The 32 raw bytes of the public key. */
  publicKey: Buffer;
  status: SigningKeyStatus;
  createdAt: Date;
  activatedAt: Date;
  retiredAt: Date | null;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Names this use of the secret, so the same secret keys nothing else the same way. */
const HKDF_INFO = 'licentric signing key v1';

/** The AES-256 key that seals private keys, derived from the server secret. */
export function sealingKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), HKDF_INFO, 32));
}

/** IV ‖ ciphertext ‖ tag of the private key's PKCS#8 DER. */
export function sealPrivateKey(privateKey: KeyObject, id: string, secret: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(id, 'utf8'));
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.concat([iv, cipher.update(der), cipher.final(), cipher.getAuthTag()]);
}

/** The private key, or an error when the secret (or the row it was sealed for) is another one. */
export function openPrivateKey(sealed: Buffer, id: string, secret: string): KeyObject {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret), iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(id, 'utf8'));
  decipher.setAuthTag(tag);
  const der = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

interface SigningKeyRow {
  id: string;
  algorithm: 'ed25519';
  public_key: Buffer;
  status: SigningKeyStatus;
  created_at: unknown;
  activated_at: unknown;
  retired_at: unknown;
}

function toSigningKey(row: SigningKeyRow): SigningKey {
  return {
    id: row.id,
    algorithm: row.algorithm,
    publicKey: row.public_key,
    status: row.status,
    createdAt: asDate(row.created_at),
    activatedAt: asDate(row.activated_at),
    retiredAt: maybeDate(row.retired_at),
  };
}

/** Every published key, newest first. */
export async function listSigningKeys(em: EntityManager): Promise<SigningKey[]> {
  const rows = await execute<SigningKeyRow[]>(
    em,
    sql`select id, algorithm, public_key, status, created_at, activated_at, retired_at
          from signing_keys order by id desc`,
  );
  return rows.map(toSigningKey);
}

/** The active key with its private key opened, or null before the first one exists. */
export async function activeSigningKey(
  em: EntityManager,
  secret: string,
): Promise<{ key: SigningKey; privateKey: KeyObject } | null> {
  const [row] = await execute<(SigningKeyRow & { private_key_encrypted: Buffer })[]>(
    em,
    sql`select id, algorithm, public_key, private_key_encrypted, status, created_at, activated_at, retired_at
          from signing_keys where status = 'active'`,
  );
  if (!row) return null;
  return { key: toSigningKey(row), privateKey: openPrivateKey(row.private_key_encrypted, row.id, secret) };
}

/**
 * `migrate`'s seed: makes the first key when there is none. It runs under the migration lock,
 * so the check and the insert cannot interleave with another process's; the unique index on
 * the active key is the backstop.
 */
export function ensureSigningKey(
  secret: string,
  now: () => Date = () => new Date(),
): (em: EntityManager) => Promise<void> {
  return async (em) => {
    // Orders this against a rotation, which does not take the migration lock.
    await execute(em, sql`lock table signing_keys in share row exclusive mode`);
    const [existing] = await execute<{ id: string }[]>(em, sql`select id from signing_keys limit 1`);
    if (existing) return;
    const at = now();
    const id = uuidv7(at.getTime());
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await execute(
      em,
      sql`insert into signing_keys (id, algorithm, public_key, private_key_encrypted, status, created_at, activated_at)
          values (${id}, 'ed25519', ${rawPublicKey(publicKey)}, ${sealPrivateKey(privateKey, id, secret)}, 'active', ${at}, ${at})`,
    );
  };
}

/** The public key of a stored key as a KeyObject, for verifying what it signed. */
export function signingPublicKey(key: SigningKey): KeyObject {
  return ed25519PublicKeyFromHex(key.publicKey.toString('hex'));
}

/**
 * The forms a published key is offered in: 64 hex characters (what Keygen's SDKs take), SPKI
 * PEM (what OpenSSL, Python's `cryptography` and Java read), and an RFC 8037 JWK carrying the
 * `kid` (what RFC 9421 libraries and JOSE tooling read).
 */
export function publicKeyForms(key: SigningKey): {
  hex: string;
  pem: string;
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' };
} {
  const publicKey = signingPublicKey(key);
  return {
    hex: key.publicKey.toString('hex'),
    pem: publicKey.export({ format: 'pem', type: 'spki' }) as string,
    jwk: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey.toString('base64url'), kid: key.id, alg: 'EdDSA', use: 'sig' },
  };
}

/**
 * Makes a new key the active one and retires the one it replaces, which stays published so that
 * files it signed still verify. The table lock orders concurrent rotations (and a first start's
 * seed): each sees the key the one before it made, so there is always exactly one active key.
 */
export async function rotateSigningKey(em: EntityManager, secret: string, now: Date): Promise<SigningKey> {
  return em.transactional(async (tx) => {
    await execute(tx, sql`lock table signing_keys in share row exclusive mode`);
    await execute(tx, sql`update signing_keys set status = 'retired', retired_at = ${now} where status = 'active'`);
    const id = uuidv7(now.getTime());
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const [row] = await execute<SigningKeyRow[]>(
      tx,
      sql`insert into signing_keys (id, algorithm, public_key, private_key_encrypted, status, created_at, activated_at)
          values (${id}, 'ed25519', ${rawPublicKey(publicKey)}, ${sealPrivateKey(privateKey, id, secret)}, 'active', ${now}, ${now})
          returning id, algorithm, public_key, status, created_at, activated_at, retired_at`,
    );
    return toSigningKey(row!);
  });
}
