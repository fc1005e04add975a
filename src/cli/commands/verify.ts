import { readFile } from 'node:fs/promises';
import { createLogger } from '../../log.ts';
import { type FileKind, type FileRefusal, type VerifiedFile, verifyFile } from '../../offline/file.ts';
import type { SigningKeyStatus } from '../../offline/signing-keys.ts';
import { text, UsageError, type Values } from '../arguments.ts';
import { type Command, withServices } from '../command.ts';
import { output } from '../output.ts';

/** A public key the file may have been signed with: a stored key, or the one given on the command line. */
interface Candidate {
  id: string | null;
  status: SigningKeyStatus | null;
  hex: string;
}

/** The kind a file's armor names; keygen-go trims white space around a machine file, so do we. */
function kindOf(certificate: string): FileKind | null {
  const start = certificate.trimStart();
  if (start.startsWith('-----BEGIN MACHINE FILE-----')) return 'machine';
  if (start.startsWith('-----BEGIN LICENSE FILE-----')) return 'license';
  return null;
}

const REASONS: Record<FileRefusal, string> = {
  MALFORMED: 'the file is not well-formed (armor, base64 or JSON): it was cut, changed or is not such a file',
  UNSUPPORTED_ALGORITHM: 'the file uses an algorithm other than aes-256-gcm+ed25519 or base64+ed25519',
  NOT_GENUINE:
    'the signature does not verify under any signing key of this server: the file was changed, or another server signed it',
  WRONG_KEY: 'the file is genuine, but the license key (and fingerprint) given do not open it',
  KEY_REQUIRED: 'the file is encrypted: give --license-key (and --fingerprint for a machine file)',
  MALFORMED_PAYLOAD: 'the file is genuine, but what it carries is not a machine or license document',
  CLOCK_BEHIND: "the file was issued more than 5 minutes ahead of this machine's clock",
  EXPIRED: 'the file has expired',
};

interface Summary {
  valid: boolean;
  /** A FileRefusal, or REVOKED_KEY for a genuine file signed by a revoked key; null when valid. */
  reason: FileRefusal | 'REVOKED_KEY' | null;
  message: string;
  kind: FileKind;
  algorithm: string | null;
  keyId: string | null;
  keyStatus: SigningKeyStatus | null;
  id: string | null;
  licenseId: string | null;
  fingerprint: string | null;
  issued: string | null;
  expiry: string | null;
  ttl: number | null;
}

type Document = {
  data?: {
    id?: unknown;
    attributes?: { fingerprint?: unknown };
    relationships?: { license?: { data?: { id?: unknown } } };
  };
};

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function summarise(
  kind: FileKind,
  result: VerifiedFile,
  readable: VerifiedFile | null,
  signer: Candidate | null,
): Summary {
  const payload = (readable?.ok ? readable.payload : null) as Document | null;
  const meta = readable?.ok ? readable.meta : result.ok ? result.meta : (result.meta ?? null);
  const revoked = signer?.status === 'revoked';
  const reason = !result.ok ? result.reason : revoked ? 'REVOKED_KEY' : null;
  return {
    valid: reason === null,
    reason,
    message:
      reason === null
        ? 'valid'
        : reason === 'REVOKED_KEY'
          ? `signed by the revoked signing key ${signer!.id}: not to be trusted`
          : reason === 'EXPIRED'
            ? `the file expired at ${meta!.expiry!.toISOString()}`
            : reason === 'CLOCK_BEHIND'
              ? `the file was issued at ${meta!.issued.toISOString()}, more than 5 minutes ahead of this machine's clock`
              : REASONS[reason],
    kind,
    algorithm: readable?.ok ? readable.alg : result.ok ? result.alg : null,
    keyId: signer?.id ?? null,
    keyStatus: signer?.status ?? null,
    id: str(payload?.data?.id),
    licenseId: kind === 'license' ? str(payload?.data?.id) : str(payload?.data?.relationships?.license?.data?.id),
    fingerprint: kind === 'machine' ? str(payload?.data?.attributes?.fingerprint) : null,
    issued: meta?.issued.toISOString() ?? null,
    expiry: meta ? (meta.expiry?.toISOString() ?? 'never') : null,
    ttl: meta?.ttl ?? null,
  };
}

function human(summary: Summary, keyGiven: boolean): string {
  const rows: [string, string | null][] = [
    ['kind', `${summary.kind} file`],
    ['id', summary.id],
    ['license', summary.licenseId],
    ['fingerprint', summary.fingerprint],
    ['issued', summary.issued],
    ['expiry', summary.expiry],
    ['algorithm', summary.algorithm],
    [
      'key id',
      summary.keyId
        ? `${summary.keyId} (${summary.keyStatus})`
        : keyGiven && summary.reason !== 'NOT_GENUINE' && summary.algorithm
          ? 'the one given with --public-key'
          : null,
    ],
  ];
  const lines = rows.filter((row): row is [string, string] => row[1] !== null).map(([k, v]) => `${k.padEnd(12)}${v}`);
  return [...lines, summary.valid ? 'valid' : `not valid: ${summary.message}`].join('\n');
}

async function candidates(values: Values, config: Parameters<Command['run']>[1]): Promise<Candidate[]> {
  const given = text(values, 'public-key');
  if (given !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(given))
      throw new UsageError('--public-key must be 64 hex characters (an Ed25519 public key)');
    return [{ id: null, status: null, hex: given.toLowerCase() }];
  }
  let found: Candidate[] = [];
  await withServices(config, createLogger(config.logLevel, process.stderr), async (services) => {
    // Revoked keys too, last: a file one of them signed is told apart from a forged one.
    const keys = await services.signingKeys.list({ includeRevoked: true });
    found = [...keys.filter((k) => k.status !== 'revoked'), ...keys.filter((k) => k.status === 'revoked')].map(
      (key) => ({ id: key.id, status: key.status, hex: key.publicKey.toString('hex') }),
    );
  });
  return found;
}

/** `licentric verify`: what support staff run on a file a customer sends in. */
export const FILE_COMMANDS: Record<string, Command> = {
  verify: {
    usage: 'FILE --license-key K [--fingerprint F] [--public-key HEX]',
    summary:
      "Check a machine or license file as the shipped software would, and print what it holds; exit 1 when it is not valid. Without --public-key, with this server's signing keys",
    options: { 'license-key': { type: 'string' }, fingerprint: { type: 'string' }, 'public-key': { type: 'string' } },
    takesId: 'FILE',
    async run({ values, id }, config) {
      let certificate: string;
      try {
        certificate = await readFile(id!, 'utf8');
      } catch (error) {
        process.stderr.write(`licentric: cannot read ${id}: ${(error as Error).message}\n`);
        return 1;
      }
      const kind = kindOf(certificate);
      if (kind === null) {
        process.stderr.write(
          `licentric: ${id} is not a machine or license file (no BEGIN MACHINE FILE or LICENSE FILE line)\n`,
        );
        return 1;
      }
      const keys = await candidates(values, config);
      const input = {
        kind,
        certificate,
        licenseKey: text(values, 'license-key'),
        fingerprint: text(values, 'fingerprint'),
      };
      let result: VerifiedFile = { ok: false, reason: 'NOT_GENUINE' };
      let signer: Candidate | null = null;
      for (const key of keys) {
        const attempt = verifyFile({ ...input, publicKey: key.hex });
        if (!attempt.ok && attempt.reason === 'NOT_GENUINE') continue;
        result = attempt;
        // Reasons found before the signature is checked are the same under every key: no signer.
        if (attempt.ok || (attempt.reason !== 'MALFORMED' && attempt.reason !== 'UNSUPPORTED_ALGORITHM')) signer = key;
        break;
      }
      // An expired file (or one from ahead of this clock) is still read, at the instant it was issued, to show what it holds.
      const readable =
        result.ok || !result.meta || signer === null
          ? result
          : verifyFile({ ...input, publicKey: signer.hex, now: result.meta.issued });
      const summary = summarise(kind, result, readable, values['public-key'] === undefined ? signer : null);
      output(values, summary, human(summary, values['public-key'] !== undefined));
      return summary.valid ? 0 : 1;
    },
  },
};
