import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/**
 * Keyed hashes of license keys and API tokens. Only these are stored: a leaked database does not
 * reveal a usable key, and without the server secret it cannot be brute-forced offline.
 */
export class KeyHasher {
  // A KeyObject, prepared once: from a Buffer, every hash would prepare the key again, a large
  // share of the hashing's time on a heartbeat (bench/README.md).
  readonly #secret: KeyObject;

  constructor(secret: string) {
    this.#secret = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  /** `purpose` separates the hash spaces, so a license key never matches an API key's hash. */
  hash(purpose: 'license-key' | 'api-key' | 'idempotency-body', value: string): Buffer {
    return createHmac('sha256', this.#secret).update(`${purpose}\0${value}`, 'utf8').digest();
  }

  /** Constant-time equality of two hashes. */
  static equal(a: Uint8Array, b: Uint8Array): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
