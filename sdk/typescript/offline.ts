// A machine file verified the way shipped software does it: offline, with node:crypto only, from
// the public key (64 hex characters), the license key and the machine's fingerprint. The steps
// and their order are Keygen's verifiers' (docs/offline-design.md): armor and envelope, the
// signature over "machine/" + enc, then decryption, then the dates.
import { createDecipheriv, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type createClient from 'openapi-fetch';
import type { paths } from '../../generated/api.d.ts';

/** Why a file was refused: the step that refused it. */
export class FileRefused extends Error {
  readonly step: 'envelope' | 'signature' | 'decryption' | 'dates';

  constructor(step: FileRefused['step'], message: string) {
    super(`${step}: ${message}`);
    this.step = step;
  }
}

export interface MachineFileDocument {
  data: { type: string; id: string; attributes: { fingerprint: string; [name: string]: unknown } };
  included: { type: string; id: string; attributes: Record<string, unknown> }[];
  meta: { issued: string; expiry: string | null; ttl: number | null };
}

const BEGIN = '-----BEGIN MACHINE FILE-----';
const END = '-----END MACHINE FILE-----';
/** How far `issued` may lie ahead of this clock (keygen-go's MaxClockDrift). */
const MAX_CLOCK_DRIFT_MS = 5 * 60_000;

export function verifyMachineFile(
  certificate: string,
  publicKeyHex: string,
  licenseKey: string,
  fingerprint: string,
  now = new Date(),
): MachineFileDocument {
  const armored = certificate.trim();
  if (!armored.startsWith(BEGIN) || !armored.endsWith(END)) throw new FileRefused('envelope', 'not a machine file');
  let envelope: { enc?: unknown; sig?: unknown; alg?: unknown };
  try {
    envelope = JSON.parse(Buffer.from(armored.slice(BEGIN.length, -END.length).trim(), 'base64').toString('utf8'));
  } catch {
    throw new FileRefused('envelope', 'the body is not a certificate');
  }
  const { enc, sig, alg } = envelope;
  if (typeof enc !== 'string' || typeof sig !== 'string') throw new FileRefused('envelope', 'enc or sig missing');
  if (alg !== 'aes-256-gcm+ed25519') throw new FileRefused('envelope', `unsupported algorithm ${String(alg)}`);

  // The 32 raw bytes of the key, imported as an RFC 8037 JWK.
  const x = Buffer.from(publicKeyHex, 'hex').toString('base64url');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  if (!verify(null, Buffer.from(`machine/${enc}`, 'utf8'), publicKey, Buffer.from(sig, 'base64'))) {
    throw new FileRefused('signature', 'the file is not what the server signed');
  }

  const [ciphertext, iv, tag] = enc.split('.').map((part) => Buffer.from(part, 'base64'));
  if (!ciphertext || !iv || !tag) throw new FileRefused('envelope', 'enc is not ciphertext.iv.tag');
  const key = createHash('sha256')
    .update(licenseKey + fingerprint, 'utf8')
    .digest();
  let document: MachineFileDocument;
  try {
    // A fixed 16-byte tag: node would otherwise accept a truncated one.
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 }).setAuthTag(tag);
    document = JSON.parse(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8'));
  } catch {
    throw new FileRefused('decryption', 'another license key or fingerprint');
  }

  const issued = Date.parse(document.meta.issued);
  if (issued - now.getTime() > MAX_CLOCK_DRIFT_MS) throw new FileRefused('dates', 'issued ahead of this clock');
  if (document.meta.expiry !== null && now.getTime() > Date.parse(document.meta.expiry)) {
    throw new FileRefused('dates', `expired at ${document.meta.expiry}`);
  }
  return document;
}

/** The refusal `verifyMachineFile` gives, or null when it accepts the file. */
export function refusal(verifyIt: () => unknown): FileRefused | null {
  try {
    verifyIt();
    return null;
  } catch (error) {
    if (error instanceof FileRefused) return error;
    throw error;
  }
}

/**
 * The file with one character of its base64 body changed, so that one byte of `enc` (the
 * ciphertext) changes and the envelope stays well-formed JSON: the refusal must then come from
 * the signature, not from a parser. The 16th character of the first line holds the low six
 * bits of the envelope's 12th byte, which lies inside enc (`{"enc":"` is 8 bytes); flipping
 * the lowest of those bits turns a base64 character into another printable ASCII one.
 */
export function withOneByteChanged(certificate: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const lines = certificate.split('\n');
  const first = lines[1]!;
  const changed = alphabet[alphabet.indexOf(first[15]!) ^ 1]!;
  lines[1] = first.slice(0, 15) + changed + first.slice(16);
  return lines.join('\n');
}

type Client = ReturnType<typeof createClient<paths>>;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`smoke check failed: ${message}`);
}

/**
 * Checks out a machine file through the client, saves it, and reads it back offline: with only
 * the public key fetched before going offline, the license key and the fingerprint.
 */
export async function offlineMachineFile(client: Client, licenseKey: string): Promise<void> {
  const asLicense = { Authorization: `License ${licenseKey}` };
  const fingerprint = `sdk-typescript-offline-${randomBytes(6).toString('hex')}`;
  const activated = await client.POST('/machines', { headers: asLicense, body: { fingerprint } });
  check(activated.data !== undefined, `activate: ${JSON.stringify(activated.error)}`);
  const machine = activated.data.data;

  // Fetched while online, as shipped software bakes the key in: no authentication needed.
  const keys = await client.GET('/signing-keys');
  check(keys.data !== undefined, `signing keys: ${JSON.stringify(keys.error)}`);
  const ttl = 86_400;
  const checkedOut = await client.POST('/machines/{id}/actions/check-out', {
    // The JSON answer; `Accept: application/octet-stream` would give the bare file instead.
    headers: { ...asLicense, Accept: 'application/json' },
    params: { path: { id: machine.id } },
    body: { ttl },
  });
  check(typeof checkedOut.data === 'object', `check out: ${JSON.stringify(checkedOut.data ?? checkedOut.error)}`);
  const file = checkedOut.data.data;
  check(
    file.algorithm === 'aes-256-gcm+ed25519',
    `a machine file checked out with the license key is encrypted: ${file.algorithm}`,
  );
  const signingKey = keys.data.data.find((key) => key.id === file.keyId);
  check(signingKey !== undefined, `the file's key ${file.keyId} is published`);
  const dir = mkdtempSync(join(tmpdir(), 'licentric-smoke-'));
  const path = join(dir, `${machine.id}.lic`);
  writeFileSync(path, file.certificate);
  console.log(`checked out ${path} (key ${file.keyId}, expires ${file.expiry})`);

  // Offline from here: the file, the public key, the license key and the fingerprint.
  const saved = readFileSync(path, 'utf8');
  const document = verifyMachineFile(saved, signingKey.publicKey, licenseKey, fingerprint);
  check(
    document.data.type === 'machines' && document.data.id === machine.id,
    `the file is machine ${document.data.id}`,
  );
  check(document.data.attributes.fingerprint === fingerprint, 'the file names the fingerprint');
  check(document.meta.ttl === ttl, `the file's ttl is ${document.meta.ttl}`);
  check(
    document.meta.expiry !== null && Date.parse(document.meta.expiry) === Date.parse(file.expiry!),
    `the file expires at ${document.meta.expiry}, the check-out said ${file.expiry}`,
  );
  console.log(`verified offline: machine ${document.data.id}, expires ${document.meta.expiry}`);

  const changed = refusal(() =>
    verifyMachineFile(withOneByteChanged(saved), signingKey.publicKey, licenseKey, fingerprint),
  );
  check(changed?.step === 'signature', `a copy with one byte changed must fail its signature: ${changed?.message}`);
  const elsewhere = refusal(() => verifyMachineFile(saved, signingKey.publicKey, licenseKey, `${fingerprint}-other`));
  check(elsewhere?.step === 'decryption', `another fingerprint must not decrypt it: ${elsewhere?.message}`);
  console.log(`refused: one byte changed (${changed.message}); another fingerprint (${elsewhere.message})`);

  rmSync(dir, { recursive: true, force: true });
  const deactivated = await client.DELETE('/machines/{id}', {
    headers: asLicense,
    params: { path: { id: machine.id } },
  });
  check(deactivated.data?.data.deleted === true, `deactivate: ${JSON.stringify(deactivated.error)}`);
}
