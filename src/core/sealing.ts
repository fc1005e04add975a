import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (signing keys, webhook signing secrets, stored idempotent responses) are sealed
 * with AES-256-GCM under keys derived from the server secret, and key hashes are keyed with it.
 * During a rotation of LICENTRIC_SECRET the server holds a ring: the current secret, which makes
 * every new hash and seal, and the previous ones, which only open and match what they made. Every
 * seal and hash records the id of the secret that made it, so the server opens a row with the
 * right secret at once and `licentric secrets rotate-check` can count what still depends on an
 * old one.
 */

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A short, stable name for a secret: a truncated HMAC of a constant under it. It tells secrets
 * apart in the database and in `rotate-check`, and reveals nothing usable about the secret.
 */
export function secretId(secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update('licentric secret id').digest('hex').slice(0, 12);
}

/** The AES-256 key for one use of a secret; `info` names the use, so no two uses share a key. */
export function deriveKey(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), info, 32));
}

/** IV ‖ ciphertext ‖ tag; `aad` binds the seal to its row, so a sealed value copied elsewhere does not open. */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or an error when the key (or the row the seal was made for) is another one. */
export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
}

export interface RingSecret {
  id: string;
  secret: string;
}

/** The current server secret and the previous ones still accepted (LICENTRIC_PREVIOUS_SECRETS). */
export class SecretRing {
  readonly current: RingSecret;
  readonly previous: readonly RingSecret[];
  readonly #byId: Map<string, RingSecret>;

  constructor(current: string, previous: readonly string[] = []) {
    this.current = { id: secretId(current), secret: current };
    this.previous = previous
      .map((secret) => ({ id: secretId(secret), secret }))
      .filter((s) => s.id !== this.current.id);
    this.#byId = new Map([this.current, ...this.previous].map((s) => [s.id, s]));
  }

  /** The secret of a recorded id, or undefined when it is in the ring no more (or never was). */
  byId(id: string): RingSecret | undefined {
    return this.#byId.get(id);
  }

  /** Every secret, the current one first. */
  get all(): RingSecret[] {
    return [this.current, ...this.previous];
  }

  /** What code that was handed one secret (tests, older callers) gets: a ring of just it. */
  static of(secrets: string | SecretRing): SecretRing {
    return typeof secrets === 'string' ? new SecretRing(secrets) : secrets;
  }
}

/** A stored idempotent response: base64 of IV ‖ tag ‖ ciphertext of the body's JSON. */
export function sealBody(key: Buffer, body: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(body), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
}

/**
 * A stored body, opened with the key of the secret its row names; a row from before ids were
 * recorded, or one whose id is not in the ring, is tried with every key, the current first.
 */
export function openBody(keys: Map<string, Buffer>, stored: string, secretId: string | null): unknown {
  const bytes = Buffer.from(stored, 'base64');
  const named = secretId === null ? undefined : keys.get(secretId);
  for (const key of named ? [named] : keys.values()) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8'));
    } catch {
      // The next key, then.
    }
  }
  throw new Error(
    `a stored idempotent response opens with no secret of the ring (sealed under ${secretId ?? 'unknown'})`,
  );
}
