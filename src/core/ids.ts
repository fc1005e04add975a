import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness. Within one millisecond
 * the 12-bit `rand_a` field counts up from a random start (RFC 9562 §6.2, method 3), so ids made
 * by one process stay strictly increasing, which keyset pagination relies on for a stable order.
 */
export function uuidv7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    sequence += 1;
    if (sequence > 0xfff) {
      // rand_a exhausted for this millisecond: borrow the next one rather than repeat an id.
      ms += 1;
      sequence = bytes[6]! & 0x07;
    }
  } else {
    // Start low in the 12-bit space so a burst in one millisecond has room to count up.
    sequence = ((bytes[6]! & 0x07) << 8) | bytes[7]!;
  }
  lastMs = ms;

  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);

  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is a UUID PostgreSQL will accept; anything else cannot name a row. */
export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/** A bigint identity as the API writes it (the spec's `EventId`): decimal, no sign, no leading zero. */
const BIGINT_ID_PATTERN = /^[1-9][0-9]{0,17}$/;

/** Whether a string is a bigint id as the API writes it; anything else cannot name a row. */
export function isBigintId(value: string): boolean {
  return BIGINT_ID_PATTERN.test(value);
}
