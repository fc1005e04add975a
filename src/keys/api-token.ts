import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API tokens: `lct_` + 43 base62 characters (256 random bits) + a 6-character base62 CRC-32 of
 * them. The prefix makes a leaked token recognisable to secret scanners; the checksum lets the
 * server refuse a truncated or mangled token without touching the database.
 */

export const API_TOKEN_PREFIX = 'lct_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 43;
const CHECK_LENGTH = 6;
const TOKEN_PATTERN = new RegExp(`^${API_TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECK_LENGTH}}$`);

function base62(value: bigint, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[Number(rest % 62n)] + out;
    rest /= 62n;
  }
  return out;
}

function checksum(random: string): string {
  return base62(BigInt(crc32(random)), CHECK_LENGTH);
}

export function generateApiToken(): string {
  const random = base62(BigInt(`0x${randomBytes(32).toString('hex')}`), RANDOM_LENGTH);
  return `${API_TOKEN_PREFIX}${random}${checksum(random)}`;
}

/** Whether a presented token has the shape and checksum of one we issued. */
export function isWellFormedApiToken(presented: string): boolean {
  if (!TOKEN_PATTERN.test(presented)) return false;
  const random = presented.slice(API_TOKEN_PREFIX.length, API_TOKEN_PREFIX.length + RANDOM_LENGTH);
  return presented.endsWith(checksum(random));
}

/** What listings show of a token: enough to recognise it, far too little to use it. */
export function apiTokenHint(token: string): string {
  return `${token.slice(0, API_TOKEN_PREFIX.length + 6)}…${token.slice(-4)}`;
}
