import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';

/**
 * Machine and license files in Keygen's published format (docs/offline-design.md gives every
 * byte and where Keygen's own code says it), so verification code vendors already ship for
 * Keygen, and the verifiers in Keygen's SDKs, accept ours unchanged.
 */
export type FileKind = 'machine' | 'license';

export const ENCRYPTED_ALGORITHM = 'aes-256-gcm+ed25519';
export const ENCODED_ALGORITHM = 'base64+ed25519';
export type FileAlgorithm = typeof ENCRYPTED_ALGORITHM | typeof ENCODED_ALGORITHM;

/** Keygen's certificates wrap their base64 at 60 characters (Ruby's `Base64.encode64`). */
const LINE_LENGTH = 60;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** How far a file's `issued` may lie ahead of our clock before the clock, not the file, is suspect. */
export const DEFAULT_MAX_CLOCK_DRIFT_MS = 5 * 60_000;

const ARMOR: Record<FileKind, { begin: string; end: string }> = {
  machine: { begin: '-----BEGIN MACHINE FILE-----', end: '-----END MACHINE FILE-----' },
  license: { begin: '-----BEGIN LICENSE FILE-----', end: '-----END LICENSE FILE-----' },
};

/** The `{enc, sig, alg}` object the armor holds, in this key order (Keygen's). */
interface Certificate {
  enc: string;
  sig: string;
  alg: FileAlgorithm;
}

export interface EncodeFileInput {
  kind: FileKind;
  /** The JSON:API document the file carries (`documents.ts` builds it); serialised as JSON. */
  payload: unknown;
  /** The Ed25519 private key that signs. */
  privateKey: KeyObject;
  encrypt: boolean;
  /** The license key as issued: the decryption secret, or its first part for a machine file. */
  licenseKey?: string;
  /** The machine's fingerprint: the second part of a machine file's secret. */
  fingerprint?: string;
}

/**
 * The AES-256 key of a file: SHA-256 of the license key, followed for a machine file by the
 * fingerprint, so a copied machine file is unreadable on a machine with another fingerprint.
 */
export function fileKey(kind: FileKind, licenseKey: string, fingerprint?: string): Buffer {
  if (kind === 'machine' && fingerprint === undefined) throw new Error('a machine file key needs the fingerprint');
  const secret = kind === 'machine' ? licenseKey + fingerprint : licenseKey;
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The certificate text: armor, base64 in lines of 60, armor, each line ending in `\n`. */
export function encodeFile(input: EncodeFileInput): string {
  const { kind, privateKey } = input;
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('files are signed with an Ed25519 key');
  const data = Buffer.from(JSON.stringify(input.payload), 'utf8');
  let enc: string;
  if (input.encrypt) {
    if (input.licenseKey === undefined) throw new Error('an encrypted file needs the license key');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', fileKey(kind, input.licenseKey, input.fingerprint), iv, {
      authTagLength: TAG_BYTES,
    });
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    enc = [ciphertext, iv, cipher.getAuthTag()].map((part) => part.toString('base64')).join('.');
  } else {
    enc = data.toString('base64');
  }
  const sig = sign(null, Buffer.from(`${kind}/${enc}`, 'utf8'), privateKey).toString('base64');
  const certificate: Certificate = { enc, sig, alg: input.encrypt ? ENCRYPTED_ALGORITHM : ENCODED_ALGORITHM };
  const body = Buffer.from(JSON.stringify(certificate), 'utf8').toString('base64');
  const lines = [];
  for (let i = 0; i < body.length; i += LINE_LENGTH) lines.push(body.slice(i, i + LINE_LENGTH));
  return `${ARMOR[kind].begin}\n${lines.join('\n')}\n${ARMOR[kind].end}\n`;
}

/** Why a file was refused, most basic first: each a reason support staff can act on. */
export type FileRefusal =
  /** Not a file of this kind: armor, base64, JSON or the certificate's fields. */
  | 'MALFORMED'
  /** An `alg` other than the two we issue (Keygen's RSA and ECDSA ones included). */
  | 'UNSUPPORTED_ALGORITHM'
  /** The signature does not verify under the public key: changed, or signed by another key. */
  | 'NOT_GENUINE'
  /** Genuine, but the secret given (license key, fingerprint) does not open it. */
  | 'WRONG_KEY'
  /** An encrypted file and no license key to open it with. */
  | 'KEY_REQUIRED'
  /** Genuine and readable, but the payload is not a JSON:API document with the file's `meta`. */
  | 'MALFORMED_PAYLOAD'
  /** `issued` lies further ahead of the verifier's clock than the drift allowed. */
  | 'CLOCK_BEHIND'
  /** Past `meta.expiry` (a file whose `ttl` is null never expires). */
  | 'EXPIRED';

export interface FileMeta {
  issued: Date;
  expiry: Date | null;
  ttl: number | null;
}

export type VerifiedFile =
  | {
      ok: true;
      alg: FileAlgorithm;
      /** The JSON:API document: `data`, `included`, `meta`. */
      payload: { data: unknown; included?: unknown; meta: unknown };
      meta: FileMeta;
    }
  | {
      ok: false;
      reason: FileRefusal;
      /** Set once the file was read far enough to know them (expired, clock behind). */
      meta?: FileMeta;
    };

export interface VerifyFileInput {
  kind: FileKind;
  certificate: string;
  /** Ed25519 public key: a KeyObject, or its 32 bytes as 64 hex characters (Keygen's form). */
  publicKey: KeyObject | string;
  licenseKey?: string;
  fingerprint?: string;
  now?: Date;
  maxClockDriftMs?: number;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict base64: Node's decoder skips characters outside the alphabet, so a changed byte could
 * otherwise decode to the same bytes and pass. Non-canonical padding bits are refused too.
 */
function decodeBase64(text: string): Buffer | null {
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

/** Ed25519 SPKI DER is this 12-byte prefix and the 32 raw bytes. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PublicKeyFromHex(hex: string): KeyObject {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('an Ed25519 public key is 64 hex characters');
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(hex, 'hex')]),
    format: 'der',
    type: 'spki',
  });
}

/** The 32 raw bytes of an Ed25519 public key as 64 hex characters, the form Keygen's SDKs take. */
export function ed25519PublicKeyHex(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(ED25519_SPKI_PREFIX.length).toString('hex');
}

function readCertificate(kind: FileKind, text: string): Certificate | null {
  const { begin, end } = ARMOR[kind];
  const trimmed = text.trim();
  if (!trimmed.startsWith(begin) || !trimmed.endsWith(end)) return null;
  const body = trimmed.slice(begin.length, trimmed.length - end.length).replace(/\r?\n/g, '');
  const json = decodeBase64(body);
  if (!json) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { enc, sig, alg } = parsed as Record<string, unknown>;
  if (typeof enc !== 'string' || typeof sig !== 'string' || typeof alg !== 'string') return null;
  return { enc, sig, alg: alg as FileAlgorithm };
}

function readMeta(payload: unknown): FileMeta | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const { data, meta } = payload as Record<string, unknown>;
  if (typeof data !== 'object' || data === null || typeof meta !== 'object' || meta === null) return null;
  const { issued, expiry, ttl } = meta as Record<string, unknown>;
  if (typeof issued !== 'string' || Number.isNaN(Date.parse(issued))) return null;
  if (ttl === null && expiry === null) return { issued: new Date(issued), expiry: null, ttl: null };
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) return null;
  if (typeof expiry !== 'string' || Number.isNaN(Date.parse(expiry))) return null;
  return { issued: new Date(issued), expiry: new Date(expiry), ttl };
}

/**
 * Checks a file as the shipped software would: armor, signature over `<kind>/<enc>`, then
 * decryption with the secret, then the payload's dates against `now`. The signature is checked
 * before anything is decrypted or parsed beyond the certificate, as Keygen's verifiers do.
 */
export function verifyFile(input: VerifyFileInput): VerifiedFile {
  const { kind } = input;
  const certificate = readCertificate(kind, input.certificate);
  if (!certificate) return { ok: false, reason: 'MALFORMED' };
  if (certificate.alg !== ENCRYPTED_ALGORITHM && certificate.alg !== ENCODED_ALGORITHM) {
    return { ok: false, reason: 'UNSUPPORTED_ALGORITHM' };
  }
  const publicKey = typeof input.publicKey === 'string' ? ed25519PublicKeyFromHex(input.publicKey) : input.publicKey;
  const signature = decodeBase64(certificate.sig);
  if (!signature || !verify(null, Buffer.from(`${kind}/${certificate.enc}`, 'utf8'), publicKey, signature)) {
    return { ok: false, reason: 'NOT_GENUINE' };
  }

  let data: Buffer;
  if (certificate.alg === ENCRYPTED_ALGORITHM) {
    if (input.licenseKey === undefined || (kind === 'machine' && input.fingerprint === undefined)) {
      return { ok: false, reason: 'KEY_REQUIRED' };
    }
    const parts = certificate.enc.split('.');
    const [ciphertext, iv, tag] = parts.map(decodeBase64);
    if (parts.length !== 3 || !ciphertext || !iv || !tag || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      return { ok: false, reason: 'MALFORMED' };
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', fileKey(kind, input.licenseKey, input.fingerprint), iv, {
        authTagLength: TAG_BYTES,
      });
      decipher.setAuthTag(tag);
      data = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      return { ok: false, reason: 'WRONG_KEY' };
    }
  } else {
    const decoded = decodeBase64(certificate.enc);
    if (!decoded) return { ok: false, reason: 'MALFORMED' };
    data = decoded;
  }

  let payload: unknown;
  try {
    payload = JSON.parse(data.toString('utf8'));
  } catch {
    return { ok: false, reason: 'MALFORMED_PAYLOAD' };
  }
  const meta = readMeta(payload);
  if (!meta) return { ok: false, reason: 'MALFORMED_PAYLOAD' };
  const now = input.now ?? new Date();
  if (meta.issued.getTime() - now.getTime() > (input.maxClockDriftMs ?? DEFAULT_MAX_CLOCK_DRIFT_MS)) {
    return { ok: false, reason: 'CLOCK_BEHIND', meta };
  }
  if (meta.expiry && now.getTime() > meta.expiry.getTime()) return { ok: false, reason: 'EXPIRED', meta };
  return { ok: true, alg: certificate.alg, payload: payload as { data: unknown; meta: unknown }, meta };
}
