import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { verifyFile } from '../src/offline/file.ts';
import { ensureSigningKey, listSigningKeys, publicKeyForms, rotateSigningKey } from '../src/offline/signing-keys.ts';
import { useGoVerifier } from './support/go-verifier.ts';
import {
  activate,
  bearer,
  type Credentials,
  licenseAuth,
  type Problem,
  type SeededLicense,
  seedLicense,
  TEST_SECRET,
  useApiKey,
  useTestServer,
} from './support/harness.ts';
import { runCli } from './support/processes.ts';

/**
 * Machine and license files through the API: what a check-out issues is verified by the
 * independent Go verifier (test/offline/keygen-verify, keygen-go's steps) and by verifyFile, and
 * every refusal is the documented problem. The Go verifier reads the real clock, so the server's
 * clock is set to now: files it issues are current for both verifiers.
 */

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
const machinesRead = useApiKey(server, ['machines:read']);
const licensesRead = useApiKey(server, ['licenses:read']);

const go = useGoVerifier();
const goVerify = go.verify;

beforeAll(() => {
  server.clock.set(new Date(Math.floor(Date.now() / 1000) * 1000));
});

/** The published public key of a signing key, as 64 hex characters; the active one by default. */
async function publicKeyHex(id?: string): Promise<string> {
  const keys = await listSigningKeys(server.orm.em.fork());
  const key = id === undefined ? keys.find((k) => k.status === 'active') : keys.find((k) => k.id === id);
  return publicKeyForms(key!).hex;
}

/** One character of the base64 body changed, the armor kept. */
function tamper(certificate: string): string {
  const lines = certificate.split('\n');
  const line = lines[2]!;
  const at = 10;
  lines[2] = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
  return lines.join('\n');
}

type Body = {
  ttl?: number | null;
  encrypt?: boolean;
  include?: ('license' | 'policy' | 'entitlements')[];
  licenseKey?: string;
};

/** The JSON answer: these requests send no `Accept`, so the download (a string) is not among them. */
const json = async <T extends { data?: unknown }>(request: Promise<T>) =>
  (await request) as T & { data?: Exclude<T['data'], string> };

const checkOutMachine = (id: string, headers: Credentials, body?: Body) =>
  json(server.client.POST('/machines/{id}/actions/check-out', { headers, params: { path: { id } }, body }));
const checkOutLicense = (key: string, body?: Body) =>
  json(server.client.POST('/licenses/actions/check-out', { headers: licenseAuth(key), body }));
const checkOutLicenseById = (id: string, headers: Credentials, body?: Body) =>
  json(server.client.POST('/licenses/{id}/actions/check-out', { headers, params: { path: { id } }, body }));

function problemOf(result: { error?: unknown; response: Response }, status: number, code: string): void {
  expect(result.response.status, JSON.stringify(result.error)).toBe(status);
  expect(result.response.headers.get('content-type')).toContain('application/problem+json');
  expect((result.error as Problem).code).toBe(code);
}

/**
 * The first signing key, as migrate makes it on a real start (runtime.ts); the tests' template
 * database has none. Each group below asks for it, so any one of them runs alone.
 */
function withSigningKey(): void {
  beforeAll(() => server.orm.em.fork().transactional((em) => ensureSigningKey(TEST_SECRET)(em)));
}

async function setPolicy(policyId: string, patch: Record<string, unknown>): Promise<void> {
  await server.services().policies.update(policyId, patch);
}

describe('before the first signing key exists', () => {
  it('issues nothing and says so as a server fault, not a client error', async () => {
    // A started server has made its first key; only a database no server migrated has none.
    await server.sql('delete from signing_keys');
    const license = await seedLicense(server);
    const machine = await activate(server, license.key);
    const answer = await checkOutMachine(machine.id, licenseAuth(license.key));
    problemOf(answer, 500, 'INTERNAL_ERROR');
    // The check-out left no event behind.
    const events = await server.sql(`select count(*)::int as n from events where type = 'machine.checked-out'`);
    expect(events[0]!.n).toBe(0);
  });
});

describe('machine files', () => {
  withSigningKey();

  let license: SeededLicense;
  let machine: { id: string; fingerprint: string };

  beforeAll(async () => {
    license = await seedLicense(server);
    machine = await activate(server, license.key);
    const services = server.services();
    await services.entitlements.create({ code: 'CHECKOUT_POLICY', name: 'From the policy' });
    await services.entitlements.create({ code: 'CHECKOUT_OWN', name: 'Its own' });
    await server.services().entitlements.attach({ kind: 'policy', id: license.policyId }, ['CHECKOUT_POLICY']);
    await server.services().entitlements.attach({ kind: 'license', id: license.licenseId }, ['CHECKOUT_OWN']);
  });

  it("round trip with the license key: encrypted, the policy's month, verified by the Go verifier and by verifyFile", async () => {
    const answer = await checkOutMachine(machine.id, licenseAuth(license.key));
    expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
    const file = answer.data!.data;
    const now = server.clock.now();
    expect(file).toMatchObject({
      algorithm: 'aes-256-gcm+ed25519',
      issued: now.toISOString(),
      expiry: new Date(now.getTime() + 2592000 * 1000).toISOString(),
      ttl: 2592000,
    });
    const [active] = (await listSigningKeys(server.orm.em.fork())).filter((k) => k.status === 'active');
    expect(file.keyId).toBe(active!.id);
    expect(file.certificate).toMatch(
      /^-----BEGIN MACHINE FILE-----\n(?:[A-Za-z0-9+/=]{60}\n)*[A-Za-z0-9+/=]{1,60}\n-----END MACHINE FILE-----\n$/,
    );

    const hex = await publicKeyHex();
    const go = goVerify('machine', file.certificate, hex, {
      licenseKey: license.key,
      fingerprint: machine.fingerprint,
    });
    expect(go).toEqual({
      ok: true,
      result: {
        kind: 'machine',
        type: 'machines',
        id: machine.id,
        licenseId: license.licenseId,
        fingerprint: machine.fingerprint,
        entitlements: ['CHECKOUT_OWN', 'CHECKOUT_POLICY'],
        issued: file.issued,
        expiry: file.expiry,
        ttl: 2592000,
        alg: 'aes-256-gcm+ed25519',
      },
    });

    const ours = verifyFile({
      kind: 'machine',
      certificate: file.certificate,
      publicKey: hex,
      licenseKey: license.key,
      fingerprint: machine.fingerprint,
      now,
    });
    expect(ours.ok).toBe(true);
    if (!ours.ok) return;
    const payload = ours.payload as {
      data: { id: string; attributes: Record<string, unknown> };
      included: { type: string; attributes: Record<string, unknown> }[];
    };
    // Keygen's machine attributes keygen-rs decodes as required: a file without one is refused.
    expect(payload.data.attributes).toMatchObject({
      fingerprint: machine.fingerprint,
      requireHeartbeat: false,
      heartbeatStatus: 'NOT_REQUIRED',
    });
    // The key the request presented, as issued, so the software can read it back offline.
    expect(payload.included[0]).toMatchObject({ type: 'licenses', attributes: { key: license.key, status: 'ACTIVE' } });
    expect(payload.included.map((r) => r.type)).toEqual(['licenses', 'entitlements', 'entitlements']);
  });

  it('is refused when one character changes, or when read with another fingerprint or license key', async () => {
    const file = (await checkOutMachine(machine.id, licenseAuth(license.key))).data!.data;
    const hex = await publicKeyHex();
    const secret = { licenseKey: license.key, fingerprint: machine.fingerprint };
    const changed = tamper(file.certificate);
    expect(changed).not.toBe(file.certificate);
    expect(goVerify('machine', changed, hex, secret).ok).toBe(false);
    expect(verifyFile({ kind: 'machine', certificate: changed, publicKey: hex, ...secret })).toMatchObject({
      ok: false,
    });

    const otherFingerprint = { ...secret, fingerprint: `${machine.fingerprint}x` };
    expect(goVerify('machine', file.certificate, hex, otherFingerprint)).toMatchObject({ ok: false });
    expect(verifyFile({ kind: 'machine', certificate: file.certificate, publicKey: hex, ...otherFingerprint })).toEqual(
      { ok: false, reason: 'WRONG_KEY' },
    );
    const other = await seedLicense(server);
    expect(
      verifyFile({ kind: 'machine', certificate: file.certificate, publicKey: hex, ...secret, licenseKey: other.key }),
    ).toEqual({ ok: false, reason: 'WRONG_KEY' });
  });

  it('comes as a bare download for Accept: application/octet-stream, named by the machine', async () => {
    const response = await fetch(`${server.apiUrl}/machines/${machine.id}/actions/check-out`, {
      method: 'POST',
      headers: { ...licenseAuth(license.key), Accept: 'application/octet-stream' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${machine.id}.lic"`);
    const certificate = await response.text();
    expect(certificate.startsWith('-----BEGIN MACHINE FILE-----\n')).toBe(true);
    const go = goVerify('machine', certificate, await publicKeyHex(), {
      licenseKey: license.key,
      fingerprint: machine.fingerprint,
    });
    expect(go).toMatchObject({ ok: true, result: { id: machine.id } });

    // JSON stays the answer when JSON is acceptable at least as much, or anything is.
    for (const accept of ['application/json, application/octet-stream', '*/*', 'application/octet-stream;q=0.5, */*']) {
      const json = await fetch(`${server.apiUrl}/machines/${machine.id}/actions/check-out`, {
        method: 'POST',
        headers: { ...licenseAuth(license.key), Accept: accept },
      });
      expect(json.headers.get('content-type'), accept).toContain('application/json');
      expect(json.headers.get('content-disposition')).toBeNull();
      await json.body?.cancel();
    }
  });

  it('with an API key: encoded and without the key, unless the body brings the license key', async () => {
    const plain = await checkOutMachine(machine.id, machinesRead);
    expect(plain.response.status, JSON.stringify(plain.error)).toBe(200);
    expect(plain.data!.data.algorithm).toBe('base64+ed25519');
    const hex = await publicKeyHex();
    expect(goVerify('machine', plain.data!.data.certificate, hex)).toMatchObject({
      ok: true,
      result: { id: machine.id },
    });
    const read = verifyFile({ kind: 'machine', certificate: plain.data!.data.certificate, publicKey: hex });
    expect(read.ok && (read.payload.included as { attributes: { key: unknown } }[])[0]!.attributes.key).toBeNull();

    problemOf(await checkOutMachine(machine.id, machinesRead, { encrypt: true }), 422, 'ENCRYPTION_NEEDS_LICENSE_KEY');
    const wrong = await seedLicense(server);
    problemOf(await checkOutMachine(machine.id, machinesRead, { licenseKey: wrong.key }), 422, 'LICENSE_KEY_MISMATCH');
    problemOf(
      await checkOutMachine(machine.id, machinesRead, { licenseKey: 'not a key' }),
      422,
      'LICENSE_KEY_MISMATCH',
    );

    // Sent in lower case, the key still opens nothing but the file made with the key as issued.
    const sealed = await checkOutMachine(machine.id, machinesRead, { licenseKey: license.key.toLowerCase() });
    expect(sealed.data!.data.algorithm).toBe('aes-256-gcm+ed25519');
    expect(
      goVerify('machine', sealed.data!.data.certificate, hex, {
        licenseKey: license.key,
        fingerprint: machine.fingerprint,
      }),
    ).toMatchObject({ ok: true });

    // A license key may ask for an encoded file; it is still genuine.
    const encoded = await checkOutMachine(machine.id, licenseAuth(license.key), { encrypt: false });
    expect(encoded.data!.data.algorithm).toBe('base64+ed25519');
    expect(goVerify('machine', encoded.data!.data.certificate, hex)).toMatchObject({ ok: true });
  });

  it('carries what include asks for, in order, and nothing for []', async () => {
    const hex = await publicKeyHex();
    const read = async (include: Body['include']) => {
      const answer = await checkOutMachine(machine.id, machinesRead, { include });
      expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
      const verified = verifyFile({
        kind: 'machine',
        certificate: answer.data!.data.certificate,
        publicKey: hex,
        now: server.clock.now(),
      });
      if (!verified.ok) throw new Error(verified.reason);
      return (verified.payload.included as { type: string; id: string }[]).map((r) => r.type);
    };
    expect(await read([])).toEqual([]);
    expect(await read(['policy'])).toEqual(['policies']);
    expect(await read(['entitlements', 'policy', 'license'])).toEqual([
      'licenses',
      'policies',
      'entitlements',
      'entitlements',
    ]);
    const withPolicy = await checkOutMachine(machine.id, machinesRead, { include: ['policy'] });
    expect(goVerify('machine', withPolicy.data!.data.certificate, hex)).toMatchObject({ ok: true });
  });

  it("takes a ttl within an hour and ten years, the policy's checkOutTtl by default, null only where the policy allows", async () => {
    const own = await seedLicense(server);
    const m = await activate(server, own.key);
    const auth = licenseAuth(own.key);
    for (const ttl of [3599, 315360001, 0, -1])
      problemOf(await checkOutMachine(m.id, auth, { ttl }), 422, 'TTL_OUT_OF_RANGE');
    for (const ttl of [3600, 315360000]) {
      const answer = await checkOutMachine(m.id, auth, { ttl });
      expect(answer.data!.data).toMatchObject({
        ttl,
        expiry: new Date(server.clock.now().getTime() + ttl * 1000).toISOString(),
      });
    }
    const hour = (await checkOutMachine(m.id, auth, { ttl: 3600 })).data!.data;
    expect(
      goVerify('machine', hour.certificate, await publicKeyHex(), { licenseKey: own.key, fingerprint: m.fingerprint }),
    ).toMatchObject({ ok: true, result: { ttl: 3600, expiry: hour.expiry } });
    // An hour later the same file is expired for the software.
    expect(
      verifyFile({
        kind: 'machine',
        certificate: hour.certificate,
        publicKey: await publicKeyHex(),
        licenseKey: own.key,
        fingerprint: m.fingerprint,
        now: new Date(server.clock.now().getTime() + 3600_001),
      }),
    ).toMatchObject({ ok: false, reason: 'EXPIRED' });

    await setPolicy(own.policyId, { checkOutTtl: 7200 });
    expect((await checkOutMachine(m.id, auth)).data!.data.ttl).toBe(7200);

    problemOf(await checkOutMachine(m.id, auth, { ttl: null }), 422, 'NON_EXPIRING_FILE_NOT_ALLOWED');
    await setPolicy(own.policyId, { allowNonExpiringFiles: true });
    const forever = (await checkOutMachine(m.id, auth, { ttl: null })).data!.data;
    expect(forever).toMatchObject({ ttl: null, expiry: null });
    expect(
      goVerify('machine', forever.certificate, await publicKeyHex(), {
        licenseKey: own.key,
        fingerprint: m.fingerprint,
      }),
    ).toMatchObject({ ok: true, result: { ttl: 0, expiry: null } });
    expect(
      verifyFile({
        kind: 'machine',
        certificate: forever.certificate,
        publicKey: await publicKeyHex(),
        licenseKey: own.key,
        fingerprint: m.fingerprint,
        now: new Date('2099-01-01T00:00:00Z'),
      }),
    ).toMatchObject({ ok: true, meta: { ttl: null, expiry: null } });
  });

  it('records machine.checked-out with the file, never the certificate or the key', async () => {
    const file = (await checkOutMachine(machine.id, licenseAuth(license.key))).data!.data;
    const [event] = await server.sql<{ type: string; machine_id: string; license_id: string; data: string }>(
      `select type, machine_id, license_id, data::text as data from events
        where type = 'machine.checked-out' order by id desc limit 1`,
    );
    expect(event).toMatchObject({ machine_id: machine.id, license_id: license.licenseId });
    const data = JSON.parse(event!.data) as Record<string, unknown>;
    expect(data.file).toEqual({
      id: file.id,
      keyId: file.keyId,
      algorithm: 'aes-256-gcm+ed25519',
      issued: file.issued,
      expiry: file.expiry,
      ttl: 2592000,
    });
    expect(data.machine).toMatchObject({ id: machine.id, fingerprint: machine.fingerprint });
    expect(event!.data).not.toContain(license.key);
    expect(event!.data).not.toContain('BEGIN MACHINE FILE');
    expect(event!.data).not.toContain(file.certificate.split('\n')[1]!);

    const listed = await server.client.GET('/events', {
      headers: admin,
      params: { query: { type: 'machine.checked-out' } },
    });
    expect(listed.response.status, JSON.stringify(listed.error)).toBe(200);
    expect(listed.data!.data.some((e) => (e.data as { file: { id: string } }).file.id === file.id)).toBe(true);
  });
});

describe('refusals', () => {
  withSigningKey();

  it('a suspended license gets no file, by its key or by an API key', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    await server.services().licenses.setSuspended(l.licenseId, true);
    problemOf(await checkOutMachine(m.id, licenseAuth(l.key)), 403, 'LICENSE_SUSPENDED');
    problemOf(await checkOutMachine(m.id, machinesRead), 403, 'LICENSE_SUSPENDED');
    problemOf(await checkOutLicense(l.key), 403, 'LICENSE_SUSPENDED');
    problemOf(await checkOutLicenseById(l.licenseId, licensesRead), 403, 'LICENSE_SUSPENDED');
  });

  it.each(['RESTRICT_ACCESS', 'REVOKE_ACCESS'] as const)(
    'an expired license under %s gets no file',
    async (expirationStrategy) => {
      const l = await seedLicense(server);
      const m = await activate(server, l.key);
      await setPolicy(l.policyId, { expirationStrategy });
      await server.sql('update licenses set expires_at = $2 where id = $1', [
        l.licenseId,
        new Date(server.clock.now().getTime() - 1000),
      ]);
      problemOf(await checkOutMachine(m.id, licenseAuth(l.key)), 403, 'LICENSE_EXPIRED');
      problemOf(await checkOutMachine(m.id, machinesRead), 403, 'LICENSE_EXPIRED');
      problemOf(await checkOutLicense(l.key), 403, 'LICENSE_EXPIRED');
      problemOf(await checkOutLicenseById(l.licenseId, licensesRead), 403, 'LICENSE_EXPIRED');
    },
  );

  it('an expired license under MAINTAIN_ACCESS still gets files, which say it expired', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    await setPolicy(l.policyId, { expirationStrategy: 'MAINTAIN_ACCESS' });
    const expired = new Date(server.clock.now().getTime() - 1000);
    await server.sql('update licenses set expires_at = $2 where id = $1', [l.licenseId, expired]);
    const answer = await checkOutMachine(m.id, licenseAuth(l.key));
    expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
    const read = verifyFile({
      kind: 'machine',
      certificate: answer.data!.data.certificate,
      publicKey: await publicKeyHex(),
      licenseKey: l.key,
      fingerprint: m.fingerprint,
      now: server.clock.now(),
    });
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect((read.payload.included as { attributes: unknown }[])[0]!.attributes).toMatchObject({
      status: 'EXPIRED',
      expiry: expired.toISOString(),
    });
    expect((await checkOutLicense(l.key)).response.status).toBe(200);
  });

  it('a deactivated machine, another license’s machine and a deleted license are not found', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    const other = await seedLicense(server);
    const theirs = await activate(server, other.key);
    problemOf(await checkOutMachine(theirs.id, licenseAuth(l.key)), 404, 'MACHINE_NOT_FOUND');
    problemOf(await checkOutMachine('00000000-0000-7000-8000-000000000000', machinesRead), 404, 'MACHINE_NOT_FOUND');

    const gone = await server.client.DELETE('/machines/{id}', {
      headers: licenseAuth(l.key),
      params: { path: { id: m.id } },
    });
    expect(gone.response.status).toBe(200);
    problemOf(await checkOutMachine(m.id, licenseAuth(l.key)), 404, 'MACHINE_NOT_FOUND');
    problemOf(await checkOutMachine(m.id, machinesRead), 404, 'MACHINE_NOT_FOUND');

    await server.services().licenses.delete(other.licenseId);
    problemOf(await checkOutMachine(theirs.id, machinesRead), 404, 'MACHINE_NOT_FOUND');
    problemOf(await checkOutLicenseById(other.licenseId, licensesRead), 404, 'LICENSE_NOT_FOUND');
    // The deleted license's key no longer authenticates anything.
    problemOf(await checkOutLicense(other.key), 401, 'INVALID_CREDENTIALS');
  });

  it('an API key without the scope is refused, and a license key cannot use the by-id route', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    problemOf(await checkOutMachine(m.id, licensesRead), 403, 'INSUFFICIENT_SCOPE');
    problemOf(await checkOutLicenseById(l.licenseId, machinesRead), 403, 'INSUFFICIENT_SCOPE');
    problemOf(await checkOutLicenseById(l.licenseId, licenseAuth(l.key)), 401, 'AUTHENTICATION_REQUIRED');
    problemOf(await checkOutMachine(m.id, {}), 401, 'AUTHENTICATION_REQUIRED');
  });

  it('an API key limited to a product finds only that product’s machines and licenses', async () => {
    const services = server.services();
    const product = await services.products.create({ name: 'Check-out product', code: 'CHECKOUT_A' });
    const policy = await services.policies.create({ name: 'in product', productId: product.id });
    const { license, key } = await services.licenses.create({ policyId: policy.id });
    const inside = await activate(server, key);
    const outside = await seedLicense(server);
    const outsideMachine = await activate(server, outside.key);
    const { token } = await services.apiKeys.create({
      name: 'limited',
      scopes: ['machines:read', 'licenses:read'],
      productId: product.id,
    });
    const limited = bearer(token);
    expect((await checkOutMachine(inside.id, limited)).response.status).toBe(200);
    expect((await checkOutLicenseById(license.id, limited)).response.status).toBe(200);
    problemOf(await checkOutMachine(outsideMachine.id, limited), 404, 'MACHINE_NOT_FOUND');
    problemOf(await checkOutLicenseById(outside.licenseId, limited), 404, 'LICENSE_NOT_FOUND');
  });

  it('a body field the operation does not know is refused before anything is issued', async () => {
    const l = await seedLicense(server);
    const response = await fetch(`${server.apiUrl}/licenses/actions/check-out`, {
      method: 'POST',
      headers: { ...licenseAuth(l.key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ tll: 3600 }),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as Problem;
    expect(problem.errors).toContainEqual({ pointer: '/tll', message: 'is not a known field; did you mean "ttl"?' });
  });
});

describe('license files', () => {
  withSigningKey();

  it('with the license key: encrypted with it, carrying it, read by the Go verifier as a license file', async () => {
    const l = await seedLicense(server);
    await server.services().entitlements.create({ code: 'LICENSE_FILE_FEATURE', name: 'f' });
    await server.services().entitlements.attach({ kind: 'license', id: l.licenseId }, ['LICENSE_FILE_FEATURE']);
    const answer = await checkOutLicense(l.key);
    expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
    const file = answer.data!.data;
    expect(file.algorithm).toBe('aes-256-gcm+ed25519');
    expect(file.certificate.startsWith('-----BEGIN LICENSE FILE-----\n')).toBe(true);
    const hex = await publicKeyHex();
    expect(goVerify('license', file.certificate, hex, { licenseKey: l.key })).toEqual({
      ok: true,
      result: expect.objectContaining({
        kind: 'license',
        type: 'licenses',
        id: l.licenseId,
        entitlements: ['LICENSE_FILE_FEATURE'],
        ttl: 2592000,
      }),
    });
    const read = verifyFile({
      kind: 'license',
      certificate: file.certificate,
      publicKey: hex,
      licenseKey: l.key,
      now: server.clock.now(),
    });
    expect(read.ok && (read.payload.data as { attributes: { key: string } }).attributes.key).toBe(l.key);
    // A license file does not open as a machine file, nor with another key.
    expect(goVerify('machine', file.certificate, hex, { licenseKey: l.key, fingerprint: 'x' }).ok).toBe(false);
    expect(goVerify('license', tamper(file.certificate), hex, { licenseKey: l.key }).ok).toBe(false);

    const [event] = await server.sql<{ data: { file: { id: string } }; license_id: string }>(
      `select data, license_id from events where type = 'license.checked-out' order by id desc limit 1`,
    );
    expect(event).toMatchObject({ license_id: l.licenseId, data: { file: { id: file.id } } });
    expect(JSON.stringify(event)).not.toContain(l.key);
  });

  it('by id with an API key: encoded without the key, encrypted with licenseKey, downloadable', async () => {
    const l = await seedLicense(server);
    const hex = await publicKeyHex();
    const plain = await checkOutLicenseById(l.licenseId, licensesRead, { include: ['policy'] });
    expect(plain.data!.data.algorithm).toBe('base64+ed25519');
    expect(goVerify('license', plain.data!.data.certificate, hex)).toMatchObject({
      ok: true,
      result: { id: l.licenseId },
    });
    problemOf(
      await checkOutLicenseById(l.licenseId, licensesRead, { encrypt: true }),
      422,
      'ENCRYPTION_NEEDS_LICENSE_KEY',
    );
    const sealed = await checkOutLicenseById(l.licenseId, licensesRead, { licenseKey: l.key, ttl: 86400 });
    expect(sealed.data!.data).toMatchObject({ algorithm: 'aes-256-gcm+ed25519', ttl: 86400 });
    expect(goVerify('license', sealed.data!.data.certificate, hex, { licenseKey: l.key })).toMatchObject({ ok: true });

    const response = await fetch(`${server.apiUrl}/licenses/${l.licenseId}/actions/check-out`, {
      method: 'POST',
      headers: { ...licensesRead, Accept: 'application/octet-stream' },
    });
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${l.licenseId}.lic"`);
    expect(goVerify('license', await response.text(), hex)).toMatchObject({ ok: true });
  });
});

describe('rotation', () => {
  withSigningKey();

  it('a file signed before a rotation still verifies with the old published key; new files carry the new key', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    const secret = { licenseKey: l.key, fingerprint: m.fingerprint };
    const before = (await checkOutMachine(m.id, licenseAuth(l.key))).data!.data;
    const rotated = await rotateSigningKey(server.orm.em.fork(), TEST_SECRET, server.clock.now(), CLI_ACTOR);
    const after = (await checkOutMachine(m.id, licenseAuth(l.key))).data!.data;
    expect(after.keyId).toBe(rotated.id);
    expect(before.keyId).not.toBe(rotated.id);

    const published = await listSigningKeys(server.orm.em.fork());
    expect(published.find((k) => k.id === before.keyId)?.status).toBe('retired');
    const oldHex = await publicKeyHex(before.keyId);
    const newHex = await publicKeyHex(after.keyId);
    expect(goVerify('machine', before.certificate, oldHex, secret)).toMatchObject({ ok: true });
    expect(goVerify('machine', after.certificate, newHex, secret)).toMatchObject({ ok: true });
    // Each key verifies only what it signed.
    expect(goVerify('machine', before.certificate, newHex, secret).ok).toBe(false);
    expect(verifyFile({ kind: 'machine', certificate: after.certificate, publicKey: oldHex, ...secret })).toEqual({
      ok: false,
      reason: 'NOT_GENUINE',
    });
  });
});

describe('policy file settings', () => {
  it('default to a month and no never-expiring files, are read back, changed and bounded', async () => {
    const created = await server.client.POST('/policies', { headers: admin, body: { name: 'files' } });
    expect(created.data!.data).toMatchObject({ checkOutTtl: 2592000, allowNonExpiringFiles: false });
    const id = created.data!.data.id;
    const updated = await server.client.PATCH('/policies/{id}', {
      headers: { ...admin, 'Content-Type': 'application/merge-patch+json' },
      params: { path: { id } },
      body: { checkOutTtl: 3600, allowNonExpiringFiles: true },
    });
    expect(updated.data!.data).toMatchObject({ checkOutTtl: 3600, allowNonExpiringFiles: true });
    const read = await server.client.GET('/policies/{id}', { headers: admin, params: { path: { id } } });
    expect(read.data!.data).toMatchObject({ checkOutTtl: 3600, allowNonExpiringFiles: true });
    for (const checkOutTtl of [3599, 315360001]) {
      const refused = await server.client.POST('/policies', { headers: admin, body: { name: 'bad', checkOutTtl } });
      problemOf(refused, 400, 'VALIDATION_FAILED');
      expect((refused.error as Problem).errors![0]!.pointer).toBe('/checkOutTtl');
    }
  });
});

describe('licentric machines check-out', { timeout: 300_000 }, () => {
  withSigningKey();

  const cli = (...args: string[]) =>
    runCli(args, { DATABASE_URL: server.databaseUrl, LICENTRIC_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });

  it('writes a file the Go verifier accepts, prints one on stdout, and refuses what the API refuses', async () => {
    const l = await seedLicense(server);
    const m = await activate(server, l.key);
    const out = path.join(go.workDir, 'cli.lic');
    const written = await cli('machines', 'check-out', m.id, '--ttl', '3600', '--out', out, '--license-key', l.key);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(
      /^Wrote machine file \S+ to .*cli\.lic \(aes-256-gcm\+ed25519, signed by \S+, expires /,
    );
    expect(statSync(out).mode & 0o077).toBe(0);
    const certificate = readFileSync(out, 'utf8');
    expect(
      goVerify('machine', certificate, await publicKeyHex(), { licenseKey: l.key, fingerprint: m.fingerprint }),
    ).toMatchObject({ ok: true, result: { id: m.id, ttl: 3600 } });

    const printed = await cli('machines', 'check-out', m.id);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^-----BEGIN MACHINE FILE-----\n[\s\S]+-----END MACHINE FILE-----\n$/);
    expect(goVerify('machine', printed.stdout, await publicKeyHex())).toMatchObject({
      ok: true,
      result: { ttl: 2592000 },
    });

    const json = await cli('machines', 'check-out', m.id, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ machineId: m.id, algorithm: 'base64+ed25519', ttl: 2592000 });

    const never = await cli('machines', 'check-out', m.id, '--ttl', 'never');
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('NON_EXPIRING_FILE_NOT_ALLOWED');
    const policy = await cli(
      'policies',
      'update',
      l.policyId,
      '--check-out-ttl',
      '7200',
      '--allow-non-expiring-files',
      'true',
      '--json',
    );
    expect(JSON.parse(policy.stdout)).toMatchObject({ checkOutTtl: 7200, allowNonExpiringFiles: true });
    const forever = await cli('machines', 'check-out', m.id, '--ttl', 'never', '--json');
    expect(JSON.parse(forever.stdout)).toMatchObject({ ttl: null, expiry: null });
    expect(JSON.parse((await cli('machines', 'check-out', m.id, '--json')).stdout)).toMatchObject({ ttl: 7200 });
    const wrongKey = await cli('machines', 'check-out', m.id, '--license-key', 'TST-00000-00000-00000-00000');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain('LICENSE_KEY_MISMATCH');
  });
});
