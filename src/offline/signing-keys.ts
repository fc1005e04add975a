import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { SigningKeyActive, SigningKeyNotFound, SigningKeyRevoked } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { deriveKey, open, SecretRing, seal } from '../core/sealing.ts';
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
 * another row does not open. Each row records the id of the secret that sealed it, so during a
 * rotation of the secret it is opened with the right one and re-sealed under the new one.
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

/** Names this use of the secret, so the same secret keys nothing else the same way. */
const HKDF_INFO = 'licentric signing key v1';

/** The AES-256 key that seals private keys, derived from the server secret. */
export function sealingKey(secret: string): Buffer {
  return deriveKey(secret, HKDF_INFO);
}

/** IV ‖ ciphertext ‖ tag of the private key's PKCS#8 DER. */
export function sealPrivateKey(privateKey: KeyObject, id: string, secret: string): Buffer {
  return seal(sealingKey(secret), privateKey.export({ format: 'der', type: 'pkcs8' }), id);
}

/** The private key, or an error when the secret (or the row it was sealed for) is another one. */
export function openPrivateKey(sealed: Buffer, id: string, secret: string): KeyObject {
  return createPrivateKey({ key: open(sealingKey(secret), sealed, id), format: 'der', type: 'pkcs8' });
}

/**
 * Opens a stored key with the secret its row names; a row from before ids were recorded (null),
 * or one whose id is not in the ring, is tried with every secret of the ring, the current first.
 */
function openStored(
  row: { id: string; private_key_encrypted: Buffer; secret_id: string | null },
  ring: SecretRing,
): KeyObject {
  const named = row.secret_id === null ? undefined : ring.byId(row.secret_id);
  if (named) return openPrivateKey(row.private_key_encrypted, row.id, named.secret);
  for (const { secret } of ring.all) {
    try {
      return openPrivateKey(row.private_key_encrypted, row.id, secret);
    } catch {
      // The next secret, then.
    }
  }
  throw new Error(
    `signing key ${row.id} opens with no secret of the ring (sealed under ${row.secret_id ?? 'unknown'})`,
  );
}

/**
 * Re-seals under the current secret every key sealed under another one it can open; each row
 * is updated only if no one re-sealed it meanwhile. Returns how many it moved.
 */
export async function resealSigningKeys(em: EntityManager, ring: SecretRing): Promise<number> {
  const rows = await execute<{ id: string; private_key_encrypted: Buffer; secret_id: string | null }[]>(
    em,
    sql`select id, private_key_encrypted, secret_id from signing_keys where secret_id is distinct from ${ring.current.id}`,
  );
  let moved = 0;
  for (const row of rows) {
    let privateKey: KeyObject;
    try {
      privateKey = openStored(row, ring);
    } catch {
      continue; // Its secret is not in the ring: `secrets rotate-check` shows it.
    }
    const resealed = await execute<{ id: string }[]>(
      em,
      sql`update signing_keys set private_key_encrypted = ${sealPrivateKey(privateKey, row.id, ring.current.secret)}, secret_id = ${ring.current.id}
           where id = ${row.id} and secret_id is not distinct from ${row.secret_id} returning id`,
    );
    moved += resealed.length;
  }
  return moved;
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
  secrets: string | SecretRing,
): Promise<{ key: SigningKey; privateKey: KeyObject } | null> {
  const [row] = await execute<(SigningKeyRow & { private_key_encrypted: Buffer; secret_id: string | null })[]>(
    em,
    sql`select ${COLUMNS}, private_key_encrypted, secret_id from signing_keys where status = 'active'`,
  );
  if (!row) return null;
  return { key: toSigningKey(row), privateKey: openStored(row, SecretRing.of(secrets)) };
}

/**
 * `migrate`'s seed: makes the first key when there is none. It runs under the migration lock,
 * so the check and the insert cannot interleave with another process's; the unique index on
 * the active key is the backstop.
 */
export function ensureSigningKey(
  secrets: string | SecretRing,
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
    const { current } = SecretRing.of(secrets);
    await execute(
      em,
      sql`insert into signing_keys (id, algorithm, public_key, private_key_encrypted, secret_id, status, created_at, activated_at)
          values (${id}, 'ed25519', ${rawPublicKey(publicKey)}, ${sealPrivateKey(privateKey, id, current.secret)}, ${current.id}, 'active', ${at}, ${at})`,
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
async function rotateLocked(
  tx: EntityManager,
  secrets: string | SecretRing,
  now: Date,
  actor: Actor | null,
): Promise<SigningKey> {
  const retired = await execute<{ id: string }[]>(
    tx,
    sql`update signing_keys set status = 'retired', retired_at = ${now} where status = 'active' returning id`,
  );
  const id = uuidv7(now.getTime());
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const { current } = SecretRing.of(secrets);
  const [row] = await execute<SigningKeyRow[]>(
    tx,
    sql`insert into signing_keys (id, algorithm, public_key, private_key_encrypted, secret_id, status, created_at, activated_at)
        values (${id}, 'ed25519', ${rawPublicKey(publicKey)}, ${sealPrivateKey(privateKey, id, current.secret)}, ${current.id}, 'active', ${now}, ${now})
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
  secret: string | SecretRing,
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
  secret: string | SecretRing,
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
export async function unopenableActiveKey(em: EntityManager, secrets: string | SecretRing): Promise<string | null> {
  const [row] = await execute<{ id: string; private_key_encrypted: Buffer; secret_id: string | null }[]>(
    em,
    sql`select id, private_key_encrypted, secret_id from signing_keys where status = 'active'`,
  );
  if (!row) return null;
  try {
    openStored(row, SecretRing.of(secrets));
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
  readonly #secret: string | SecretRing | undefined;

  /** `secret`: the server secret, needed only to make a key (rotation, retiring the active key). */
  constructor(em: EntityManager, clock: Clock, actor: Actor | null, secret: string | SecretRing | undefined) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#secret = secret;
  }

  #sealingSecret(): string | SecretRing {
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
