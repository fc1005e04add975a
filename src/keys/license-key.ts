import { randomBytes } from 'node:crypto';

/**
 * License keys: `<PREFIX>-XXXXX-XXXXX-XXXXX-XXXXC`, e.g. `DSK-7K2QD-M9XHA-TPZ4N-W8RF3`.
 *
 * - The prefix is the policy's (1–12 of A–Z, 0–9), so vendors can tell products apart at a glance.
 * - The 19 characters after it are random, in Crockford's base32 (no I, L, O, U to misread):
 *   95 bits, well past the 80 that make guessing hopeless.
 * - The last character is a check character over the whole key, so a mistyped key is refused
 *   before any database lookup. It catches every single wrong character and every swap of two
 *   neighbours in the random part and the check character.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_CHARS = 19;
const GROUP = 5;
export const DEFAULT_KEY_PREFIX = 'LIC';
export const KEY_PREFIX_PATTERN = /^[A-Z0-9]{1,12}$/;
const PREFIX_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const KEY_PATTERN = /^([A-Z0-9]{1,12})-([0-9A-Z]{5})-([0-9A-Z]{5})-([0-9A-Z]{5})-([0-9A-Z]{5})$/;

function prefixValue(char: string): number {
  return PREFIX_ALPHABET.indexOf(char) % 32;
}

/** Multiplication in GF(32), modulo the primitive polynomial x^5 + x^2 + 1. */
function gfMultiply(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 5; i++) {
    if ((b >> i) & 1) product ^= a << i;
  }
  for (let bit = 9; bit >= 5; bit--) {
    if ((product >> bit) & 1) product ^= 0b100101 << (bit - 5);
  }
  return product;
}

/**
 * Damm's check over GF(32): the quasigroup x∘y = 2·x + y is totally anti-symmetric, so one
 * character catches every single substitution and every swap of two neighbours (Luhn mod 32,
 * the obvious alternative, misses swaps of 0 and Z).
 */
function checkCharacter(prefix: string, body: string): string {
  // Every validate and heartbeat parses its key: a plain loop over tables, no arrays made per call.
  let interim = 0;
  for (let i = 0; i < prefix.length; i++) interim = DOUBLED[interim]! ^ PREFIX_VALUES[prefix.charCodeAt(i)]!;
  for (let i = 0; i < body.length; i++) interim = DOUBLED[interim]! ^ BODY_VALUES[body.charCodeAt(i)]!;
  return ALPHABET[DOUBLED[interim]!]!;
}

/** 2·x in GF(32) for every x: the one product the check takes. */
const DOUBLED = Array.from({ length: 32 }, (_, x) => gfMultiply(2, x));

/** Each character's value by its code: `prefixValue` and the alphabet's index (-1 for others). */
const PREFIX_VALUES = valuesByCode(PREFIX_ALPHABET, prefixValue);
const BODY_VALUES = valuesByCode(ALPHABET, (char) => ALPHABET.indexOf(char));

function valuesByCode(alphabet: string, value: (char: string) => number): Int8Array {
  const values = new Int8Array(128).fill(-1);
  for (const char of alphabet) values[char.charCodeAt(0)] = value(char);
  return values;
}

export function generateLicenseKey(prefix: string): string {
  if (!KEY_PREFIX_PATTERN.test(prefix)) throw new Error(`invalid license key prefix "${prefix}"`);
  // 256 is a multiple of 32, so the low five bits of each random byte are uniform.
  const body = [...randomBytes(RANDOM_CHARS)].map((b) => ALPHABET[b & 31]).join('');
  const full = body + checkCharacter(prefix, body);
  const groups = [];
  for (let i = 0; i < full.length; i += GROUP) groups.push(full.slice(i, i + GROUP));
  return `${prefix}-${groups.join('-')}`;
}

/**
 * The canonical form of a presented key, or null when it cannot be a key we issued (wrong shape
 * or a failed check character). Case is ignored, and Crockford's look-alikes (O for 0, I and L
 * for 1) are read as the digits they stand for.
 */
export function parseLicenseKey(presented: string): string | null {
  if (presented.length > 64) return null;
  const match = KEY_PATTERN.exec(presented.trim().toUpperCase());
  if (!match) return null;
  const prefix = match[1]!;
  const body = (match[2]! + match[3] + match[4] + match[5]).replace(/O/g, '0').replace(/[IL]/g, '1');
  if (/U/.test(body)) return null;
  const random = body.slice(0, RANDOM_CHARS);
  if (checkCharacter(prefix, random) !== body[RANDOM_CHARS]) return null;
  const groups = [];
  for (let i = 0; i < body.length; i += GROUP) groups.push(body.slice(i, i + GROUP));
  return `${prefix}-${groups.join('-')}`;
}
