import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type FileEntitlement,
  type FileLicense,
  type FileMachine,
  licenseFileDocument,
  machineFileDocument,
} from '../src/offline/documents.ts';
import { ed25519PublicKeyFromHex, ed25519PublicKeyHex, encodeFile, verifyFile } from '../src/offline/file.ts';
import { useGoVerifier } from './support/go-verifier.ts';

/**
 * Machine and license files from src/offline/ against an independent verifier: a Go program
 * (test/offline/keygen-verify) that follows keygen-go's MachineFile/LicenseFile steps with Go's
 * standard library and decodes the payload into keygen-go's field types. Both must accept what
 * we issue and both must refuse what was changed.
 */

const goVerify = useGoVerifier().verify;

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject; hex: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, hex: ed25519PublicKeyHex(publicKey) };
}

const LICENSE_KEY = 'DSK-7Q2MX-9KD4T-PW8RF-3HJ6N-W8RF3';
const FINGERPRINT = 'a3f1c9e2-4b7d-4e8a-9c1f-2d5b6e7a8c90';
const created = new Date('2026-11-30T08:00:00.000Z');

const license: FileLicense = {
  id: '019ad5a0-0000-7000-8000-000000000001',
  key: LICENSE_KEY,
  name: 'Acme <plant 7> & "ships"',
  status: 'ACTIVE',
  expiry: new Date('2027-11-30T08:00:00.000Z'),
  policyId: '019ad5a0-0000-7000-8000-000000000002',
  productId: null,
  maxMachines: 5,
  maxCores: null,
  metadata: { tier: 'gold', seats: 5 },
  created,
  updated: created,
};

const machine: FileMachine = {
  id: '019ad5a0-0000-7000-8000-000000000003',
  licenseId: license.id,
  fingerprint: FINGERPRINT,
  name: 'Büro-PC ✓',
  platform: 'linux',
  hostname: 'ws-01',
  cores: 8,
  requireHeartbeat: true,
  heartbeatStatus: 'ALIVE',
  heartbeatDuration: 600,
  lastHeartbeat: created,
  metadata: {},
  created,
  updated: created,
};

const entitlements: FileEntitlement[] = [
  {
    id: '019ad5a0-0000-7000-8000-000000000004',
    code: 'PRO_EXPORT',
    name: 'Export',
    metadata: {},
    created,
    updated: created,
  },
];

function machineFile(
  keys: { privateKey: KeyObject },
  options: { encrypt?: boolean; issued?: Date; ttl?: number | null } = {},
) {
  const payload = machineFileDocument({
    machine,
    license,
    entitlements,
    terms: { issued: options.issued ?? new Date(), ttl: options.ttl === undefined ? 86_400 : options.ttl },
  });
  return encodeFile({
    kind: 'machine',
    payload,
    privateKey: keys.privateKey,
    encrypt: options.encrypt ?? true,
    licenseKey: LICENSE_KEY,
    fingerprint: FINGERPRINT,
  });
}

function licenseFile(keys: { privateKey: KeyObject }, options: { encrypt?: boolean; ttl?: number | null } = {}) {
  const payload = licenseFileDocument({
    license,
    entitlements,
    terms: { issued: new Date(), ttl: options.ttl === undefined ? 86_400 : options.ttl },
  });
  return encodeFile({
    kind: 'license',
    payload,
    privateKey: keys.privateKey,
    encrypt: options.encrypt ?? true,
    licenseKey: LICENSE_KEY,
  });
}

/** The certificate with the base64 character at `at` (an index into the text) replaced by another one. */
function changeCharacter(certificate: string, at: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const current = certificate[at]!;
  const replacement = alphabet[(alphabet.indexOf(current) + 17) % 64]!;
  return certificate.slice(0, at) + replacement + certificate.slice(at + 1);
}

/** The certificate's {enc, sig, alg}, keys lower-cased when folded (as Go's encoding/json matches them), or null. */
function envelopeOf(certificate: string, { foldKeys = false } = {}): Record<string, unknown> | null {
  const body = certificate.split('\n').slice(1, -2).join('');
  try {
    const parsed = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Record<string, unknown>;
    const entries = Object.entries(parsed).map(([key, value]) => [foldKeys ? key.toLowerCase() : key, value] as const);
    const envelope = Object.fromEntries(entries);
    return { enc: envelope.enc, sig: envelope.sig, alg: envelope.alg };
  } catch {
    return null;
  }
}

/** Whether keygen-go reads the same envelope: the same enc and alg, and a sig of the same bytes. */
function sameForGo(changed: Record<string, unknown> | null, original: Record<string, unknown>): boolean {
  if (!changed || changed.enc !== original.enc || changed.alg !== original.alg || typeof changed.sig !== 'string') {
    return false;
  }
  const sameBytes = Buffer.from(changed.sig, 'base64').equals(Buffer.from(original.sig as string, 'base64'));
  return sameBytes && /^[A-Za-z0-9+/]+=*$/.test(changed.sig);
}

/** Indexes of the base64 characters of the body, the last (padded) quantum left out. */
function bodyIndexes(certificate: string): number[] {
  const begin = certificate.indexOf('\n') + 1;
  const end = certificate.lastIndexOf('\n-----END');
  const indexes = [];
  for (let i = begin; i < end; i++) if (certificate[i] !== '\n') indexes.push(i);
  return indexes.slice(0, -4);
}

describe('the bytes of a file', () => {
  it('is armor, base64 of {enc, sig, alg} in lines of 60, armor, each line ending in a newline', () => {
    const keys = keyPair();
    const certificate = machineFile(keys);
    const lines = certificate.split('\n');
    expect(lines[0]).toBe('-----BEGIN MACHINE FILE-----');
    expect(lines.at(-2)).toBe('-----END MACHINE FILE-----');
    expect(lines.at(-1)).toBe('');
    const body = lines.slice(1, -2);
    expect(body.length).toBeGreaterThan(2);
    for (const line of body.slice(0, -1)) expect(line).toHaveLength(60);
    expect(body.at(-1)!.length).toBeGreaterThan(0);
    expect(body.at(-1)!.length).toBeLessThanOrEqual(60);

    const json = Buffer.from(body.join(''), 'base64').toString('utf8');
    const certificateObject = JSON.parse(json) as Record<string, string>;
    expect(Object.keys(certificateObject)).toEqual(['enc', 'sig', 'alg']);
    expect(json).toBe(JSON.stringify(certificateObject));
    expect(certificateObject.alg).toBe('aes-256-gcm+ed25519');
    const [ciphertext, iv, tag, extra] = certificateObject.enc!.split('.');
    expect(extra).toBeUndefined();
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(Buffer.from(ciphertext!, 'base64').length).toBeGreaterThan(100);
    expect(Buffer.from(certificateObject.sig!, 'base64')).toHaveLength(64);
  });

  it('carries the payload itself in enc when not encrypted, as base64+ed25519', () => {
    const keys = keyPair();
    const certificate = licenseFile(keys, { encrypt: false });
    expect(certificate.startsWith('-----BEGIN LICENSE FILE-----\n')).toBe(true);
    expect(certificate.endsWith('\n-----END LICENSE FILE-----\n')).toBe(true);
    const body = certificate.split('\n').slice(1, -2).join('');
    const { enc, alg } = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Record<string, string>;
    expect(alg).toBe('base64+ed25519');
    const payload = JSON.parse(Buffer.from(enc!, 'base64').toString('utf8'));
    expect(payload.data).toMatchObject({ type: 'licenses', id: license.id, attributes: { key: LICENSE_KEY } });
    expect(payload.meta).toEqual({ issued: expect.any(String), expiry: expect.any(String), ttl: 86_400 });
  });

  it('takes and gives public keys as the 64 hex characters of the raw key', () => {
    const keys = keyPair();
    expect(keys.hex).toMatch(/^[0-9a-f]{64}$/);
    expect(ed25519PublicKeyHex(ed25519PublicKeyFromHex(keys.hex))).toBe(keys.hex);
  });
});

describe('files the independent verifier accepts', () => {
  it('an encrypted machine file, read with the license key and the fingerprint', () => {
    const keys = keyPair();
    const issued = new Date(Date.now() - 1000);
    const certificate = machineFile(keys, { issued, ttl: 3600 });

    const ours = verifyFile({
      kind: 'machine',
      certificate,
      publicKey: keys.hex,
      licenseKey: LICENSE_KEY,
      fingerprint: FINGERPRINT,
    });
    expect(ours).toMatchObject({ ok: true, alg: 'aes-256-gcm+ed25519', meta: { issued, ttl: 3600 } });

    const go = goVerify('machine', certificate, keys.hex, { licenseKey: LICENSE_KEY, fingerprint: FINGERPRINT });
    expect(go).toEqual({
      ok: true,
      result: {
        kind: 'machine',
        type: 'machines',
        id: machine.id,
        licenseId: license.id,
        fingerprint: FINGERPRINT,
        entitlements: ['PRO_EXPORT'],
        issued: issued.toISOString(),
        expiry: new Date(issued.getTime() + 3_600_000).toISOString(),
        ttl: 3600,
        alg: 'aes-256-gcm+ed25519',
      },
    });
  });

  it('an unencrypted machine file, with the public key alone', () => {
    const keys = keyPair();
    const certificate = machineFile(keys, { encrypt: false });
    expect(verifyFile({ kind: 'machine', certificate, publicKey: keys.publicKey })).toMatchObject({ ok: true });
    expect(goVerify('machine', certificate, keys.hex)).toMatchObject({
      ok: true,
      result: { id: machine.id, alg: 'base64+ed25519', fingerprint: FINGERPRINT },
    });
  });

  it('license files, encrypted under the license key alone, and one that never expires', () => {
    const keys = keyPair();
    for (const encrypt of [true, false]) {
      const certificate = licenseFile(keys, { encrypt });
      expect(verifyFile({ kind: 'license', certificate, publicKey: keys.hex, licenseKey: LICENSE_KEY })).toMatchObject({
        ok: true,
      });
      expect(goVerify('license', certificate, keys.hex, { licenseKey: LICENSE_KEY })).toMatchObject({
        ok: true,
        result: { type: 'licenses', id: license.id, entitlements: ['PRO_EXPORT'], ttl: 86_400 },
      });
    }
    const forever = licenseFile(keys, { ttl: null });
    expect(
      verifyFile({ kind: 'license', certificate: forever, publicKey: keys.hex, licenseKey: LICENSE_KEY }),
    ).toMatchObject({
      ok: true,
      meta: { expiry: null, ttl: null },
    });
    expect(goVerify('license', forever, keys.hex, { licenseKey: LICENSE_KEY })).toMatchObject({
      ok: true,
      result: { expiry: null, ttl: 0 },
    });
  });
});

describe('files both verifiers refuse', () => {
  it('a file with any one base64 character of its body changed', () => {
    const keys = keyPair();
    const secret = { licenseKey: LICENSE_KEY, fingerprint: FINGERPRINT };
    const certificate = machineFile(keys);
    const indexes = bodyIndexes(certificate);
    for (const at of indexes) {
      expect(
        verifyFile({ kind: 'machine', certificate: changeCharacter(certificate, at), publicKey: keys.hex, ...secret })
          .ok,
      ).toBe(false);
    }
    // Every 23rd position reaches the enc, the sig and the alg of the envelope alike. Two changes
    // leave what keygen-go reads the same, and it accepts them: the case of an envelope key (Go's
    // encoding/json matches keys case-insensitively) and the unused low bits before the sig's
    // padding (Go's StdEncoding ignores them). Neither changes a signed byte; ours refuses both.
    const sampled = indexes.filter((_, i) => i % 23 === 0);
    expect(sampled.length).toBeGreaterThan(20);
    const original = envelopeOf(certificate)!;
    for (const at of sampled) {
      const changed = changeCharacter(certificate, at);
      expect(goVerify('machine', changed, keys.hex, secret).ok).toBe(
        sameForGo(envelopeOf(changed, { foldKeys: true }), original),
      );
    }
  });

  it('what keygen-go reads as the same envelope: ours refuses it, keygen-go accepts it', () => {
    const keys = keyPair();
    const certificate = machineFile(keys, { encrypt: false });
    const json = Buffer.from(certificate.split('\n').slice(1, -2).join(''), 'base64').toString('utf8');
    const armored = (text: string) => {
      const body = Buffer.from(text, 'utf8').toString('base64');
      return `-----BEGIN MACHINE FILE-----\n${body.match(/.{1,60}/g)!.join('\n')}\n-----END MACHINE FILE-----\n`;
    };
    // A 64-byte signature ends in two characters and "==": the second holds four unused bits.
    const { sig } = JSON.parse(json) as { sig: string };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = sig.at(-3)!;
    const loose = `${sig.slice(0, -3)}${alphabet[alphabet.indexOf(last) ^ 1]}==`;
    expect(Buffer.from(loose, 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);

    for (const changed of [armored(json.replace('"sig":', '"SIG":')), armored(json.replace(sig, loose))]) {
      expect(changed).not.toBe(certificate);
      expect(verifyFile({ kind: 'machine', certificate: changed, publicKey: keys.hex }).ok).toBe(false);
      expect(goVerify('machine', changed, keys.hex)).toMatchObject({ ok: true, result: { id: machine.id } });
    }
  });

  it('a machine file read with another fingerprint or another license key', () => {
    const keys = keyPair();
    const certificate = machineFile(keys);
    for (const secret of [
      { licenseKey: LICENSE_KEY, fingerprint: `${FINGERPRINT}0` },
      { licenseKey: 'DSK-7Q2MX-9KD4T-PW8RF-3HJ6N-W8RF4', fingerprint: FINGERPRINT },
    ]) {
      expect(verifyFile({ kind: 'machine', certificate, publicKey: keys.hex, ...secret })).toEqual({
        ok: false,
        reason: 'WRONG_KEY',
      });
      expect(goVerify('machine', certificate, keys.hex, secret)).toEqual({
        ok: false,
        error: 'file could not be decrypted',
      });
    }
  });

  it('a file signed by another key', () => {
    const certificate = machineFile(keyPair(), { encrypt: false });
    const other = keyPair();
    expect(verifyFile({ kind: 'machine', certificate, publicKey: other.hex })).toEqual({
      ok: false,
      reason: 'NOT_GENUINE',
    });
    expect(goVerify('machine', certificate, other.hex)).toEqual({ ok: false, error: 'file is not genuine' });
  });

  it('a machine file passed off as a license file: the signature covers the kind', () => {
    const keys = keyPair();
    const certificate = machineFile(keys, { encrypt: false }).replaceAll('MACHINE FILE', 'LICENSE FILE');
    expect(verifyFile({ kind: 'license', certificate, publicKey: keys.hex })).toEqual({
      ok: false,
      reason: 'NOT_GENUINE',
    });
    expect(goVerify('license', certificate, keys.hex)).toEqual({ ok: false, error: 'file is not genuine' });
  });

  it('an expired file, and one issued further ahead than the clock drift allows', () => {
    const keys = keyPair();
    const secret = { licenseKey: LICENSE_KEY, fingerprint: FINGERPRINT };
    const expired = machineFile(keys, { issued: new Date(Date.now() - 7_200_000), ttl: 3600 });
    expect(verifyFile({ kind: 'machine', certificate: expired, publicKey: keys.hex, ...secret })).toMatchObject({
      ok: false,
      reason: 'EXPIRED',
    });
    expect(goVerify('machine', expired, keys.hex, secret)).toEqual({ ok: false, error: 'file is expired' });

    const ahead = machineFile(keys, { issued: new Date(Date.now() + 3_600_000), ttl: 86_400 });
    expect(verifyFile({ kind: 'machine', certificate: ahead, publicKey: keys.hex, ...secret })).toMatchObject({
      ok: false,
      reason: 'CLOCK_BEHIND',
    });
    expect(goVerify('machine', ahead, keys.hex, secret)).toEqual({ ok: false, error: 'system clock is out of sync' });
  });

  it('a license whose policy linkage is null, which keygen-go would panic on', () => {
    const keys = keyPair();
    const payload = licenseFileDocument({ license, terms: { issued: new Date(), ttl: 3600 } });
    payload.data.relationships.policy = { data: null };
    const certificate = encodeFile({ kind: 'license', payload, privateKey: keys.privateKey, encrypt: false });
    expect(goVerify('license', certificate, keys.hex)).toEqual({
      ok: false,
      error: 'license has a null policy linkage',
    });
  });

  it("a payload whose attribute types differ from keygen-go's structs (the Go side can tell)", () => {
    const keys = keyPair();
    const payload = machineFileDocument({ machine, terms: { issued: new Date(), ttl: 3600 } });
    payload.data.attributes.cores = '8';
    const certificate = encodeFile({ kind: 'machine', payload, privateKey: keys.privateKey, encrypt: false });
    expect(goVerify('machine', certificate, keys.hex)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^machine is invalid/),
    });
  });
});
