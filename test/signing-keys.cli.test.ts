import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { licenseFileDocument, machineFileDocument } from '../src/offline/documents.ts';
import { encodeFile } from '../src/offline/file.ts';
import { activeSigningKey } from '../src/offline/signing-keys.ts';
import { openRuntime } from '../src/runtime.ts';
import { expectedFailure, StartupError } from '../src/startup.ts';
import { TEST_SECRET, useTestServer } from './support/harness.ts';
import { runCli } from './support/processes.ts';

const server = useTestServer();

/** CLI processes start Node and connect to PostgreSQL: slow on a busy machine (see cli.test.ts). */
const CLI_TIMEOUT = 300_000;

const cli = (...args: string[]) =>
  runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'licentric-verify-'));
  // The first key, as a first start makes it under the server secret.
  await server.services().signingKeys.rotate();
});
afterAll(() => rm(folder, { recursive: true, force: true }));

const LICENSE_KEY = 'VRF-AAAAA-BBBBB-CCCCC-DDDDD';
const FINGERPRINT = 'fp-verify-0001';
const MACHINE_ID = '019ad5a0-0000-7000-8000-0000000000a1';
const LICENSE_ID = '019ad5a0-0000-7000-8000-0000000000b1';
let files = 0;

/** A machine file signed by the active key, written to a file; returns its path. */
async function machineFile(options: { issued?: Date; ttl?: number | null; encrypt?: boolean } = {}): Promise<string> {
  const { privateKey } = (await activeSigningKey(server.orm.em.fork(), TEST_SECRET))!;
  const at = options.issued ?? new Date();
  const certificate = encodeFile({
    kind: 'machine',
    payload: machineFileDocument({
      machine: {
        id: MACHINE_ID,
        licenseId: LICENSE_ID,
        fingerprint: FINGERPRINT,
        name: 'laptop',
        platform: null,
        hostname: null,
        cores: 8,
        requireHeartbeat: false,
        heartbeatStatus: 'NOT_STARTED',
        heartbeatDuration: null,
        lastHeartbeat: at,
        metadata: {},
        created: at,
        updated: at,
      },
      terms: { issued: at, ttl: options.ttl === undefined ? 3600 : options.ttl },
    }),
    privateKey,
    encrypt: options.encrypt ?? true,
    licenseKey: LICENSE_KEY,
    fingerprint: FINGERPRINT,
  });
  const file = path.join(folder, `machine-${++files}.lic`);
  await writeFile(file, certificate);
  return file;
}

async function activeKeyId(): Promise<string> {
  return (await activeSigningKey(server.orm.em.fork(), TEST_SECRET))!.key.id;
}

describe('licentric signing-keys', { timeout: CLI_TIMEOUT }, () => {
  it('lists, rotates, retires and revokes, as the API does', async () => {
    const first = await activeKeyId();
    const rotated = await cli('signing-keys', 'rotate', '--json');
    expect(rotated.code, rotated.stderr).toBe(0);
    const key = JSON.parse(rotated.stdout);
    expect(key).toMatchObject({
      status: 'active',
      algorithm: 'ed25519',
      publicKey: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(rotated.stdout).not.toMatch(/private/i);

    const refused = await cli('signing-keys', 'revoke', key.id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SIGNING_KEY_ACTIVE');

    const retired = await cli('signing-keys', 'retire', key.id);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.stdout).toContain(`Retired signing key ${key.id} (retired)`);
    const now = await activeKeyId();
    expect(retired.stdout).toContain(`The active signing key is ${now} (active)`);

    const revoked = await cli('signing-keys', 'revoke', first, '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: first, status: 'revoked' });

    const listed = await cli('signing-keys', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+ACTIVATED\s+RETIRED\s+REVOKED\s+PUBLIC KEY$/);
    expect(lines[1]).toMatch(new RegExp(`^${now}\\s+active\\s`));
    expect(listed.stdout).toMatch(new RegExp(`${first}\\s+revoked\\s`));
    expect(listed.stdout).toMatch(new RegExp(`${key.id}\\s+retired\\s`));

    const unknown = await cli('signing-keys', 'retire', '019ad5a0-0000-7000-8000-00000000dead');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('SIGNING_KEY_NOT_FOUND');
    const missing = await cli('signing-keys', 'retire');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('the ID is missing');
  });
});

describe('licentric verify', { timeout: CLI_TIMEOUT }, () => {
  it('prints what a good machine file holds, the key that signed it, and "valid"', async () => {
    const file = await machineFile();
    const kid = await activeKeyId();
    const run = await cli('verify', file, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('kind        machine file');
    expect(run.stdout).toContain(`id          ${MACHINE_ID}`);
    expect(run.stdout).toContain(`license     ${LICENSE_ID}`);
    expect(run.stdout).toContain(`fingerprint ${FINGERPRINT}`);
    expect(run.stdout).toContain('algorithm   aes-256-gcm+ed25519');
    expect(run.stdout).toContain(`key id      ${kid} (active)`);
    expect(run.stdout).toMatch(/expiry {6}\d{4}-\d\d-\d\dT/);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('valid');

    const json = await cli('verify', file, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: true,
      reason: null,
      kind: 'machine',
      id: MACHINE_ID,
      licenseId: LICENSE_ID,
      keyId: kid,
      ttl: 3600,
    });
  });

  it('refuses, with exit 1 and the reason, another fingerprint, a changed byte, a missing key, an expired file', async () => {
    const file = await machineFile();
    const other = await cli('verify', file, '--license-key', LICENSE_KEY, '--fingerprint', 'fp-another');
    expect(other.code).toBe(1);
    expect(other.stdout).toContain(
      'not valid: the file is genuine, but the license key (and fingerprint) given do not open it',
    );

    const noKey = await cli('verify', file);
    expect(noKey.code).toBe(1);
    expect(noKey.stdout).toContain('not valid: the file is encrypted: give --license-key');

    const { readFile } = await import('node:fs/promises');
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    const line = lines[3]!;
    const swapped = line[10] === 'A' ? 'B' : 'A';
    lines[3] = `${line.slice(0, 10)}${swapped}${line.slice(11)}`;
    const changed = path.join(folder, 'changed.lic');
    await writeFile(changed, lines.join('\n'));
    const forged = await cli('verify', changed, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toMatch(/not valid: the (signature does not verify|file is not well-formed)/);

    const expired = await machineFile({ issued: new Date(Date.now() - 2 * 3600_000), ttl: 3600 });
    const late = await cli('verify', expired, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT);
    expect(late.code).toBe(1);
    // What it holds is still shown, so support staff can tell whose file it is.
    expect(late.stdout).toContain(`id          ${MACHINE_ID}`);
    expect(late.stdout).toMatch(/not valid: the file expired at \d{4}-/);

    const notAFile = path.join(folder, 'notes.txt');
    await writeFile(notAFile, 'hello\n');
    const wrongKind = await cli('verify', notAFile);
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.stderr).toContain('is not a machine or license file');
    const absent = await cli('verify', path.join(folder, 'absent.lic'));
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain('cannot read');
  });

  it('with --public-key works offline, without the database', async () => {
    const file = await machineFile({ encrypt: false, ttl: null });
    const hex = (await activeSigningKey(server.orm.em.fork(), TEST_SECRET))!.key.publicKey.toString('hex');
    const offline = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LICENTRIC_SECRET: TEST_SECRET };
    const run = await runCli(['verify', file, '--public-key', hex], offline);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('algorithm   base64+ed25519');
    expect(run.stdout).toContain('expiry      never');
    expect(run.stdout).toContain('key id      the one given with --public-key');

    const another = await runCli(['verify', file, '--public-key', 'ab'.repeat(32)], offline);
    expect(another.code).toBe(1);
    expect(another.stdout).toContain('not valid: the signature does not verify');
    const bad = await runCli(['verify', file, '--public-key', 'xyz'], offline);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--public-key must be 64 hex characters');
  });

  it('still accepts a file signed before a rotation, and refuses it once its key is revoked', async () => {
    const file = await machineFile();
    const signer = await activeKeyId();
    await server.services().signingKeys.rotate();
    const after = await cli('verify', file, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain(`key id      ${signer} (retired)`);

    await server.services().signingKeys.revoke(signer);
    const revoked = await cli('verify', file, '--license-key', LICENSE_KEY, '--fingerprint', FINGERPRINT, '--json');
    expect(revoked.code).toBe(1);
    expect(JSON.parse(revoked.stdout)).toMatchObject({
      valid: false,
      reason: 'REVOKED_KEY',
      keyId: signer,
      keyStatus: 'revoked',
      message: `signed by the revoked signing key ${signer}: not to be trusted`,
    });
  });

  it('reads license files too', async () => {
    const { privateKey } = (await activeSigningKey(server.orm.em.fork(), TEST_SECRET))!;
    const at = new Date();
    const certificate = encodeFile({
      kind: 'license',
      payload: licenseFileDocument({
        license: {
          id: LICENSE_ID,
          key: LICENSE_KEY,
          name: null,
          status: 'ACTIVE',
          expiry: null,
          policyId: '019ad5a0-0000-7000-8000-0000000000c1',
          productId: null,
          maxMachines: 3,
          maxCores: null,
          metadata: {},
          created: at,
          updated: at,
        },
        terms: { issued: at, ttl: 86_400 },
      }),
      privateKey,
      encrypt: true,
      licenseKey: LICENSE_KEY,
    });
    const file = path.join(folder, 'license.lic');
    await writeFile(file, certificate);
    const run = await cli('verify', file, '--license-key', LICENSE_KEY);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('kind        license file');
    expect(run.stdout).toContain(`license     ${LICENSE_ID}`);
    expect(run.stdout).not.toContain('fingerprint');
  });
});

describe('a start with another server secret', { timeout: CLI_TIMEOUT }, () => {
  it('fails at once, naming the cause, instead of at the first check-out', async () => {
    const config = loadConfig({
      DATABASE_URL: server.databaseUrl,
      LICENTRIC_SECRET: `${TEST_SECRET}-changed`,
      LOG_LEVEL: 'silent',
    });
    const failure = await openRuntime(config, createLogger('silent'), { poolSize: 2 }).then(
      async (runtime) => {
        await runtime.close();
        return null;
      },
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StartupError);
    const kid = await activeKeyId();
    expect(expectedFailure(failure)).toMatch(
      new RegExp(`^the server secret cannot open the active signing key ${kid}: LICENTRIC_SECRET is not the secret`),
    );

    // As an operator sees it: one line, exit 1, no stack trace.
    const run = await runCli(['signing-keys', 'list'], {
      DATABASE_URL: server.databaseUrl,
      LICENTRIC_SECRET: `${TEST_SECRET}-changed`,
      LOG_LEVEL: 'warn',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`licentric: the server secret cannot open the active signing key ${kid}`);
    expect(run.stderr).not.toContain('    at ');

    // The right secret still opens it.
    expect((await cli('signing-keys', 'list')).code).toBe(0);
  });
});
