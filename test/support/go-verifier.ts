import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { FileKind } from '../../src/offline/file.ts';

const VERIFIER_SOURCE = path.resolve(import.meta.dirname, '../offline/keygen-verify');

/** What the Go verifier read from a file it accepted. */
export interface GoResult {
  kind: string;
  type: string;
  id: string;
  licenseId?: string;
  fingerprint?: string;
  entitlements: string[] | null;
  issued: string;
  expiry: string | null;
  ttl: number;
  alg: string;
}

export interface GoVerifier {
  /** A scratch folder of the calling test file, removed after it. */
  readonly workDir: string;
  /** The Go verifier's answer for a certificate: what it read, or its refusal. */
  verify(
    kind: FileKind,
    certificate: string,
    publicKeyHex: string,
    secret?: { licenseKey?: string; fingerprint?: string },
  ): { ok: true; result: GoResult } | { ok: false; error: string };
}

/**
 * The independent verifier of machine and license files (test/offline/keygen-verify, keygen-go's
 * steps with Go's standard library), built once for the calling test file. No skip when Go is
 * missing: the independent verifier is the point of the tests that use it.
 */
export function useGoVerifier(): GoVerifier {
  let workDir = '';
  let binary = '';
  let files = 0;
  beforeAll(() => {
    workDir = mkdtempSync(path.join(tmpdir(), 'licentric-keygen-verify-'));
    binary = path.join(workDir, 'keygen-verify');
    execFileSync('go', ['build', '-buildvcs=false', '-o', binary, '.'], {
      cwd: VERIFIER_SOURCE,
      stdio: 'pipe',
      timeout: 240_000,
    });
  }, 300_000);
  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });
  return {
    get workDir() {
      return workDir;
    },
    verify(kind, certificate, publicKeyHex, secret = {}) {
      const file = path.join(workDir, `file-${++files}.lic`);
      writeFileSync(file, certificate);
      const args = ['-kind', kind, '-file', file, '-public-key', publicKeyHex];
      if (secret.licenseKey !== undefined) args.push('-license-key', secret.licenseKey);
      if (secret.fingerprint !== undefined) args.push('-fingerprint', secret.fingerprint);
      const run = spawnSync(binary, args, { encoding: 'utf8' });
      if (run.status === 0) return { ok: true, result: JSON.parse(run.stdout) as GoResult };
      expect(run.status, run.stderr).toBe(1);
      return { ok: false, error: run.stderr.trim() };
    },
  };
}
