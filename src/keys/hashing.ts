import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { SecretRing } from '../core/sealing.ts';

export type HashPurpose = 'license-key' | 'api-key' | 'idempotency-body';

/**
 * Keyed hashes of license keys and API tokens. Only these are stored: a leaked database does not
 * reveal a usable key, and without the server secret it cannot be brute-forced offline.
 *
 * The current secret makes every hash; the previous ones of a rotation (LICENTRIC_PREVIOUS_SECRETS)
 * are only tried when a key is not found under the current one, so a server without previous
 * secrets hashes once per key, as before rotation existed.
 */
export class KeyHasher {
  // A KeyObject, prepared once: from a Buffer, every hash would prepare the key again, a large
  // share of the hashing's time on a heartbeat (bench/README.md).
  readonly #secret: KeyObject;
  readonly #previous: { id: string; key: KeyObject }[];
  readonly ring: SecretRing;

  constructor(secrets: string | SecretRing) {
    this.ring = SecretRing.of(secrets);
    this.#secret = createSecretKey(Buffer.from(this.ring.current.secret, 'utf8'));
    this.#previous = this.ring.previous.map(({ id, secret }) => ({
      id,
      key: createSecretKey(Buffer.from(secret, 'utf8')),
    }));
  }

  /** The id of the secret every new hash is made under (recorded beside the hash). */
  get secretId(): string {
    return this.ring.current.id;
  }

  /** Whether a key not found under the current secret may still be found under a previous one. */
  get hasPrevious(): boolean {
    return this.#previous.length > 0;
  }

  /** `purpose` separates the hash spaces, so a license key never matches an API key's hash. */
  hash(purpose: HashPurpose, value: string): Buffer {
    return createHmac('sha256', this.#secret).update(`${purpose}\0${value}`, 'utf8').digest();
  }

  /** The hashes the previous secrets made of a value, to find a key not yet re-hashed. */
  previousHashes(purpose: HashPurpose, value: string): Buffer[] {
    return this.#previous.map(({ key }) => createHmac('sha256', key).update(`${purpose}\0${value}`, 'utf8').digest());
  }

  /** Whether a stored hash is the value's under any secret of the ring. */
  matches(purpose: HashPurpose, value: string, stored: Uint8Array): boolean {
    if (KeyHasher.equal(stored, this.hash(purpose, value))) return true;
    return this.previousHashes(purpose, value).some((hash) => KeyHasher.equal(stored, hash));
  }

  /** The idempotency encryption key of every secret of the ring, by secret id. */
  bodyKeys(): Map<string, Buffer> {
    const keys = new Map<string, Buffer>([[this.secretId, this.hash('idempotency-body', '')]]);
    for (const { id, key } of this.#previous)
      keys.set(id, createHmac('sha256', key).update('idempotency-body\0', 'utf8').digest());
    return keys;
  }

  /** Constant-time equality of two hashes. */
  static equal(a: Uint8Array, b: Uint8Array): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
