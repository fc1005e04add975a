// A machine file verified the way shipped software does it: offline, with node:crypto only, from
// the public key (64 hex characters), the license key and the machine's fingerprint. The steps
// and their order are Keygen's verifiers' (docs/offline-design.md): armor and envelope, the
// signature over "machine/" + enc, then decryption, then the dates.
import { createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';

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
