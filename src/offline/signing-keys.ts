import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { SigningKeyActive, SigningKeyNotFound, SigningKeyRevoked } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import type { EntityManager } from '../db/orm.ts';
import { asDate, execute, maybeDate, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import { signingKeySubject } from './events.ts';
import { ed25519PublicKeyFromHex } from './file.ts';

/**
 * Signing keys at rest. The private key is never stored in the clear: its PKCS#8 DER is sealed
 * with AES-256-GCM under a key derived from the server secret by HKDF-SHA-256, with the key's id
 * as additional data, so a database dump alone reveals nothing and a sealed key copied onto
 * another row does not open.
 */

/**
 * `active`: the one key that signs. `retired`: signs nothing new, still published so that what it
 * signed verifies. `revoked`: withdrawn (a compromise): no longer published, what it signed is
 * no longer to be trusted.
 */
export type SigningKeyStatus = 'active' | 'retired' | 'revoked';

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
  revokedAt: Date | null;
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
  revoked_at: unknown;
}

const COLUMNS = sql.raw('id, algorithm, public_key, status, created_at, activated_at, retired_at, revoked_at');

function toSigningKey(row: SigningKeyRow): SigningKey {
  return {
    id: row.id,
    algorithm: row.algorithm,
    publicKey: row.public_key,
    status: row.status,
    createdAt: asDate(row.created_at),
    activatedAt: asDate(row.activated_at),
    retiredAt: maybeDate(row.retired_at),
    revokedAt: maybeDate(row.revoked_at),
  };
}

/**
 * Every published key (revoked ones too with `includeRevoked`): the active key first, then the
 * others, the most recently activated first.
 */
export async function listSigningKeys(
  em: EntityManager,
  options: { includeRevoked?: boolean } = {},
): Promise<SigningKey[]> {
  const rows = await execute<SigningKeyRow[]>(
    em,
    sql`select ${COLUMNS} from signing_keys
         where ${options.includeRevoked ? sql`true` : sql`status <> 'revoked'`}
         order by status = 'active' desc, activated_at desc, id desc`,
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
    sql`select ${COLUMNS}, private_key_encrypted from signing_keys where status = 'active'`,
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

/** Orders every change of the keys' statuses (and a first start's seed) one after the other. */
async function lockSigningKeys(tx: EntityManager): Promise<void> {
  await execute(tx, sql`lock table signing_keys in share row exclusive mode`);
}

/** Inside the lock: the active key (if any) becomes retired and a new key becomes active. */
async function rotateLocked(tx: EntityManager, secret: string, now: Date, actor: Actor | null): Promise<SigningKey> {
  const retired = await execute<{ id: string }[]>(
    tx,
    sql`update signing_keys set status = 'retired', retired_at = ${now} where status = 'active' returning id`,
  );
  const id = uuidv7(now.getTime());
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const [row] = await execute<SigningKeyRow[]>(
    tx,
    sql`insert into signing_keys (id, algorithm, public_key, private_key_encrypted, status, created_at, activated_at)
        values (${id}, 'ed25519', ${rawPublicKey(publicKey)}, ${sealPrivateKey(privateKey, id, secret)}, 'active', ${now}, ${now})
        returning ${COLUMNS}`,
  );
  for (const { id: retiredId } of retired)
    await recordEvent(tx, 'signing-key.retired', signingKeySubject(retiredId), now, actor);
  await recordEvent(tx, 'signing-key.rotated', signingKeySubject(id), now, actor);
  return toSigningKey(row!);
}

/** Inside the lock: the key by its id, or SIGNING_KEY_NOT_FOUND. */
async function lockedKey(tx: EntityManager, id: string): Promise<SigningKey> {
  if (!isUuid(id)) throw new SigningKeyNotFound(id);
  const [row] = await execute<SigningKeyRow[]>(tx, sql`select ${COLUMNS} from signing_keys where id = ${id}`);
  if (!row) throw new SigningKeyNotFound(id);
  return toSigningKey(row);
}

/**
 * Makes a new key the active one and retires the one it replaces, which stays published so that
 * files it signed still verify. The table lock orders concurrent rotations, retirements,
 * revocations (and a first start's seed): each sees the keys the one before it left, so there is
 * always exactly one active key.
 */
export async function rotateSigningKey(
  em: EntityManager,
  secret: string,
  now: Date,
  actor: Actor | null,
): Promise<SigningKey> {
  return em.transactional(async (tx) => {
    await lockSigningKeys(tx);
    return rotateLocked(tx, secret, now, actor);
  });
}

/**
 * Retires a key. The active key is rotated away from (a new key becomes active in the same
 * transaction, so there is never none); a retired key is left as it is; a revoked key stays
 * revoked (SIGNING_KEY_REVOKED). Returns the key as it is afterwards.
 */
export async function retireSigningKey(
  em: EntityManager,
  secret: string,
  id: string,
  now: Date,
  actor: Actor | null,
): Promise<SigningKey> {
  return em.transactional(async (tx) => {
    await lockSigningKeys(tx);
    const key = await lockedKey(tx, id);
    if (key.status === 'revoked') throw new SigningKeyRevoked(key.id);
    if (key.status === 'retired') return key;
    await rotateLocked(tx, secret, now, actor);
    return lockedKey(tx, key.id);
  });
}

/**
 * Revokes a retired key: it is no longer published. The active key is refused
 * (SIGNING_KEY_ACTIVE): rotating first keeps a key to sign with. Revoking a revoked key changes
 * nothing. Returns the key as it is afterwards.
 */
export async function revokeSigningKey(
  em: EntityManager,
  id: string,
  now: Date,
  actor: Actor | null,
): Promise<SigningKey> {
  return em.transactional(async (tx) => {
    await lockSigningKeys(tx);
    const key = await lockedKey(tx, id);
    if (key.status === 'active') throw new SigningKeyActive(key.id);
    if (key.status === 'revoked') return key;
    const [row] = await execute<SigningKeyRow[]>(
      tx,
      sql`update signing_keys set status = 'revoked', revoked_at = ${now} where id = ${key.id} returning ${COLUMNS}`,
    );
    await recordEvent(tx, 'signing-key.revoked', signingKeySubject(key.id), now, actor);
    return toSigningKey(row!);
  });
}

/**
 * Whether `secret` opens the active key: a changed LICENTRIC_SECRET (or a replaced secret file)
 * leaves every sealed key unreadable, which start-up must say at once rather than the first
 * check-out. Returns the active key's id when it does not open, null when it does (or when
 * there is no key yet).
 */
export async function unopenableActiveKey(em: EntityManager, secret: string): Promise<string | null> {
  const [row] = await execute<{ id: string; private_key_encrypted: Buffer }[]>(
    em,
    sql`select id, private_key_encrypted from signing_keys where status = 'active'`,
  );
  if (!row) return null;
  try {
    openPrivateKey(row.private_key_encrypted, row.id, secret);
    return null;
  } catch {
    return row.id;
  }
}

/** The signing keys for one unit of work, as the API and the CLI manage them. */
export class SigningKeysService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #secret: string | undefined;

  /** `secret`: the server secret, needed only to make a key (rotation, retiring the active key). */
  constructor(em: EntityManager, clock: Clock, actor: Actor | null, secret: string | undefined) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#secret = secret;
  }

  #sealingSecret(): string {
    // A wiring fault, not a client's: every entry point passes the secret it opened the database with.
    if (this.#secret === undefined) throw new Error('signing keys: no server secret to seal a new key with');
    return this.#secret;
  }

  list(options: { includeRevoked?: boolean } = {}): Promise<SigningKey[]> {
    return listSigningKeys(this.#em, options);
  }

  rotate(): Promise<SigningKey> {
    return rotateSigningKey(this.#em, this.#sealingSecret(), this.#clock.now(), this.#actor);
  }

  retire(id: string): Promise<SigningKey> {
    return retireSigningKey(this.#em, this.#sealingSecret(), id, this.#clock.now(), this.#actor);
  }

  revoke(id: string): Promise<SigningKey> {
    return revokeSigningKey(this.#em, id, this.#clock.now(), this.#actor);
  }
}
