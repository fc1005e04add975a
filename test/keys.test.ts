import { describe, expect, it } from 'vitest';
import { apiTokenHint, generateApiToken, isWellFormedApiToken } from '../src/keys/api-token.ts';
import { generateLicenseKey, parseLicenseKey } from '../src/keys/license-key.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('license keys', () => {
  it('look like the reference: a prefix and four groups', () => {
    const key = generateLicenseKey('DSK');
    expect(key).toMatch(
      /^DSK-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/,
    );
    expect(parseLicenseKey(key)).toBe(key);
  });

  it('carry at least 80 random bits: 19 base32 characters, all of them used', () => {
    const keys = Array.from({ length: 2000 }, () => generateLicenseKey('K').slice(2).replace(/-/g, ''));
    expect(new Set(keys).size).toBe(keys.length);
    // Every random position takes every one of the 32 symbols across many keys: 5 bits each.
    for (let position = 0; position < 19; position++) {
      const seen = new Set(keys.map((k) => k[position]));
      expect(seen.size, `position ${position}`).toBe(32);
    }
    expect(19 * Math.log2(32)).toBeGreaterThanOrEqual(80);
  });

  it('reject every single mistyped character, anywhere in the key, before any lookup', () => {
    const key = generateLicenseKey('DSK');
    for (let i = 0; i < key.length; i++) {
      if (key[i] === '-') continue;
      const alphabet = i < 3 ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789' : CROCKFORD;
      for (const replacement of alphabet) {
        if (replacement === key[i]) continue;
        const typo = key.slice(0, i) + replacement + key.slice(i + 1);
        // In the prefix, letters that share a value mod 32 with the original pass the check;
        // those keys still fail the lookup. Everywhere else the check catches every typo.
        if (i < 3) continue;
        expect(parseLicenseKey(typo), `${key} → ${typo}`).toBeNull();
      }
    }
  });

  it('reject swapped neighbours in the random part', () => {
    let checked = 0;
    for (let n = 0; n < 200; n++) {
      const key = generateLicenseKey('DSK');
      const chars = key.slice(4).replace(/-/g, '');
      for (let i = 0; i < chars.length - 1; i++) {
        if (chars[i] === chars[i + 1]) continue;
        const swapped = chars.slice(0, i) + chars[i + 1] + chars[i] + chars.slice(i + 2);
        const typo = `DSK-${swapped.match(/.{5}/g)!.join('-')}`;
        expect(parseLicenseKey(typo), `${key} → ${typo}`).toBeNull();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it('read case and Crockford look-alikes (O, I, L) leniently, as the digits they stand for', () => {
    const key = generateLicenseKey('DSK');
    const lenient = key.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l');
    expect(parseLicenseKey(lenient)).toBe(key);
    expect(parseLicenseKey(` ${key} `)).toBe(key);
  });

  it('reject malformed input', () => {
    for (const bad of [
      '',
      'DSK',
      'DSK-A1B2-C3D4-E5F6-G7H8',
      'DSK-AAAAA-AAAAA-AAAAA',
      'DSK_AAAAA-AAAAA-AAAAA-AAAAA',
      'x'.repeat(1000),
    ]) {
      expect(parseLicenseKey(bad), bad).toBeNull();
    }
  });

  it('refuse a prefix that could not be typed back', () => {
    expect(() => generateLicenseKey('ds k')).toThrow();
    expect(() => generateLicenseKey('')).toThrow();
  });
});

describe('API tokens', () => {
  it('are prefixed, 256-bit, and checksummed', () => {
    const token = generateApiToken();
    expect(token).toMatch(/^lct_[0-9A-Za-z]{49}$/);
    expect(isWellFormedApiToken(token)).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, generateApiToken)).size).toBe(1000);
  });

  it('fail the checksum when any character changes or the token is cut short', () => {
    const token = generateApiToken();
    for (let i = 4; i < token.length; i++) {
      const changed = token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
      expect(isWellFormedApiToken(changed), changed).toBe(false);
    }
    expect(isWellFormedApiToken(token.slice(0, -1))).toBe(false);
    expect(isWellFormedApiToken(`${token}x`)).toBe(false);
    expect(isWellFormedApiToken(token.replace('lct_', 'lck_'))).toBe(false);
  });

  it('show only a hint in listings', () => {
    const token = generateApiToken();
    const hint = apiTokenHint(token);
    expect(hint.startsWith('lct_')).toBe(true);
    expect(hint.length).toBeLessThan(16);
  });
});
