import { describe, expect, it } from 'vitest';
import {
  activate,
  activated,
  activeMachines,
  licenseAuth,
  machineBody,
  type Problem,
  seedLicense,
  useTestServer,
} from './support/harness.ts';

const server = useTestServer();

describe('POST /machines — activate a machine', () => {
  describe('happy', () => {
    it('activates with every field and answers 201 with the full machine, as the reference shows', async () => {
      const { key, licenseId } = await seedLicense(server);
      server.clock.set('2026-03-01T14:00:00.000Z');
      const { response, data } = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: {
          fingerprint: 'hw-a1b2c3d4e5f6',
          name: 'Dev Laptop',
          platform: 'macos',
          hostname: 'macbook-pro.local',
          cores: 8,
        },
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(data?.data).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        licenseId,
        productId: null,
        fingerprint: 'hw-a1b2c3d4e5f6',
        name: 'Dev Laptop',
        platform: 'macos',
        hostname: 'macbook-pro.local',
        cores: 8,
        // Activation counts as the first heartbeat.
        lastHeartbeatAt: '2026-03-01T14:00:00.000Z',
        createdAt: '2026-03-01T14:00:00.000Z',
        updatedAt: '2026-03-01T14:00:00.000Z',
        deletedAt: null,
        metadata: {},
        // Additive fields beyond the reference: the policy requires no heartbeats.
        heartbeatStatus: 'NOT_REQUIRED',
        nextHeartbeatAt: null,
        deactivationReason: null,
      });
      const [row] = await server.sql('select fingerprint, cores, platform from machines where id = $1', [
        data!.data.id,
      ]);
      expect(row).toEqual({ fingerprint: 'hw-a1b2c3d4e5f6', cores: 8, platform: 'macos' });
    });

    it('activates with only a fingerprint; absent fields are null and metadata is {}', async () => {
      const { key } = await seedLicense(server);
      const { response, data } = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: { fingerprint: '12345678' },
      });
      expect(response.status).toBe(201);
      expect(data?.data).toMatchObject({
        fingerprint: '12345678',
        name: null,
        platform: null,
        hostname: null,
        cores: null,
        metadata: {},
      });
    });

    it('keeps metadata as sent, nested values and all', async () => {
      const { key } = await seedLicense(server);
      const metadata = { team: 'qa', seats: 3, tags: ['a', 'b'], nested: { deep: true, none: null }, nul: 'a\u0000b' };
      const { data } = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: machineBody({ metadata }),
      });
      expect(data?.data.metadata).toEqual(metadata);
    });

    it('accepts every platform of the enum', async () => {
      const { key } = await seedLicense(server);
      for (const platform of ['macos', 'windows', 'linux', 'docker', 'kubernetes'] as const) {
        const { response } = await server.client.POST('/machines', {
          headers: licenseAuth(key),
          body: machineBody({ platform }),
        });
        expect(response.status, platform).toBe(201);
      }
    });

    it('accepts the limits of the reference: fingerprint of 8 and of 256, name and hostname of 255', async () => {
      const { key } = await seedLicense(server);
      for (const body of [
        { fingerprint: 'f'.repeat(8) },
        { fingerprint: 'g'.repeat(256) },
        machineBody({ name: 'n'.repeat(255), hostname: 'h'.repeat(255), cores: 1 }),
        // Characters, not bytes, count: 256 three-byte characters are a valid fingerprint.
        { fingerprint: '指'.repeat(256) },
      ]) {
        const { response } = await server.client.POST('/machines', { headers: licenseAuth(key), body });
        expect(response.status, JSON.stringify(body).slice(0, 40)).toBe(201);
      }
    });

    it('accepts a charset parameter on application/json', async () => {
      const { key } = await seedLicense(server);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json; charset=utf-8' },
        body: JSON.stringify(machineBody()),
      });
      expect(response.status).toBe(201);
    });

    it('lets the same fingerprint be active under two different licenses', async () => {
      const a = await seedLicense(server);
      const b = await seedLicense(server);
      const body = machineBody();
      await activate(server, a.key, body);
      await activate(server, b.key, body);
    });
  });

  describe('licensing rules', () => {
    it('refuses an active fingerprint already on the license: 409 FINGERPRINT_TAKEN naming the machine', async () => {
      const { key, licenseId } = await seedLicense(server);
      const body = machineBody();
      const first = await activate(server, key, body);
      const second = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: { ...body, name: 'again' },
      });
      expect(second.response.status).toBe(409);
      expect(second.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(second.error).toMatchObject({
        type: 'urn:licentric:problem:fingerprint-taken',
        status: 409,
        code: 'FINGERPRINT_TAKEN',
        machineId: first.id,
        requestId: second.response.headers.get('x-request-id'),
      });
      expect(await activeMachines(server, licenseId)).toBe(1);
    });

    it("refuses past the policy's maxMachines: 422 MACHINE_LIMIT_EXCEEDED, nothing written", async () => {
      const { key, licenseId } = await seedLicense(server, { maxMachines: 2 });
      await activated(server, key, 2);
      const third = await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() });
      expect(third.response.status).toBe(422);
      expect(third.error).toMatchObject({ code: 'MACHINE_LIMIT_EXCEEDED', status: 422 });
      expect(await activeMachines(server, licenseId)).toBe(2);
    });

    it('does not count deactivated machines, and frees their fingerprint', async () => {
      const { key, licenseId } = await seedLicense(server, { maxMachines: 1 });
      const body = machineBody();
      const { id } = await activate(server, key, body);
      expect(
        (await server.client.POST('/machines', { headers: licenseAuth(key), body: machineBody() })).response.status,
      ).toBe(422);
      const deactivated = await server.client.DELETE('/machines/{id}', {
        headers: licenseAuth(key),
        params: { path: { id } },
      });
      expect(deactivated.response.status).toBe(200);
      const again = await server.client.POST('/machines', { headers: licenseAuth(key), body });
      expect(again.response.status).toBe(201);
      expect(again.data!.data.id).not.toBe(id);
      expect(await activeMachines(server, licenseId)).toBe(1);
    });

    it('treats a policy without maxMachines as unlimited', async () => {
      const { key, licenseId } = await seedLicense(server, { maxMachines: null });
      await activated(server, key, 30);
      expect(await activeMachines(server, licenseId)).toBe(30);
    });

    it('refuses a suspended license: 403 LICENSE_SUSPENDED, nothing written', async () => {
      const { key, licenseId } = await seedLicense(server);
      await server.sql('update licenses set suspended_at = now() where id = $1', [licenseId]);
      const { response, error } = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: machineBody(),
      });
      expect(response.status).toBe(403);
      expect(error).toMatchObject({ code: 'LICENSE_SUSPENDED', status: 403 });
      expect(await activeMachines(server, licenseId)).toBe(0);
    });

    it('refuses an expired license from the instant it expires: 403 LICENSE_EXPIRED', async () => {
      const expiresAt = new Date('2026-06-01T00:00:00.000Z');
      const { key, licenseId } = await seedLicense(server, { expiresAt });
      server.clock.set(new Date(expiresAt.getTime() - 1));
      await activate(server, key);
      server.clock.set(expiresAt);
      const { response, error } = await server.client.POST('/machines', {
        headers: licenseAuth(key),
        body: machineBody(),
      });
      expect(response.status).toBe(403);
      expect(error).toMatchObject({ code: 'LICENSE_EXPIRED' });
      expect(await activeMachines(server, licenseId)).toBe(1);
    });
  });

  describe('bad input: 400 VALIDATION_FAILED with a pointer, nothing written', () => {
    const cases: [string, unknown, string][] = [
      ['no fingerprint', { name: 'x' }, '/fingerprint'],
      ['fingerprint of 7', { fingerprint: '1234567' }, '/fingerprint'],
      ['fingerprint of 257', { fingerprint: 'f'.repeat(257) }, '/fingerprint'],
      ['fingerprint not a string', { fingerprint: 12345678 }, '/fingerprint'],
      ['fingerprint with a NUL', { fingerprint: 'abcd\u0000efgh' }, '/fingerprint'],
      ['fingerprint with a newline', { fingerprint: 'abcd\nefgh' }, '/fingerprint'],
      ['name of 256', { fingerprint: 'abcdefgh', name: 'n'.repeat(256) }, '/name'],
      ['name null', { fingerprint: 'abcdefgh', name: null }, '/name'],
      ['hostname of 256', { fingerprint: 'abcdefgh', hostname: 'h'.repeat(256) }, '/hostname'],
      ['platform not in the enum', { fingerprint: 'abcdefgh', platform: 'beos' }, '/platform'],
      ['platform in the wrong case', { fingerprint: 'abcdefgh', platform: 'MacOS' }, '/platform'],
      ['cores 0', { fingerprint: 'abcdefgh', cores: 0 }, '/cores'],
      ['cores negative', { fingerprint: 'abcdefgh', cores: -4 }, '/cores'],
      ['cores fractional', { fingerprint: 'abcdefgh', cores: 2.5 }, '/cores'],
      ['cores past int32', { fingerprint: 'abcdefgh', cores: 2 ** 31 }, '/cores'],
      ['cores a string', { fingerprint: 'abcdefgh', cores: '8' }, '/cores'],
      ['metadata an array', { fingerprint: 'abcdefgh', metadata: [1, 2] }, '/metadata'],
      ['metadata a string', { fingerprint: 'abcdefgh', metadata: 'x' }, '/metadata'],
      ['metadata over 16 KiB', { fingerprint: 'abcdefgh', metadata: { blob: 'x'.repeat(16 * 1024) } }, '/metadata'],
      ['body an array', [{ fingerprint: 'abcdefgh' }], ''],
      ['body null', null, ''],
      ['body a string', 'abcdefgh', ''],
    ];

    it.each(cases)('%s', async (_name, body, pointer) => {
      const { key, licenseId } = await seedLicense(server);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await response.json()) as Problem;
      expect(problem).toMatchObject({
        code: 'VALIDATION_FAILED',
        status: 400,
        type: 'urn:licentric:problem:validation-failed',
      });
      expect(problem.errors!.map((e) => e.pointer)).toContain(pointer);
      expect(await activeMachines(server, licenseId)).toBe(0);
    });

    it('an empty body with a JSON content type', async () => {
      const { key } = await seedLicense(server);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('malformed JSON: 400 MALFORMED_JSON', async () => {
      const { key, licenseId } = await seedLicense(server);
      for (const raw of ['{"fingerprint":', '{fingerprint: "abcdefgh"}', "{'a':1}", '\u0000']) {
        const response = await fetch(`${server.apiUrl}/machines`, {
          method: 'POST',
          headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
          body: raw,
        });
        expect(response.status, raw).toBe(400);
        expect(await response.json()).toMatchObject({ code: 'MALFORMED_JSON', status: 400 });
      }
      expect(await activeMachines(server, licenseId)).toBe(0);
    });

    it('a body over 64 KiB: 413 PAYLOAD_TOO_LARGE', async () => {
      const { key, licenseId } = await seedLicense(server);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
        body: JSON.stringify(machineBody({ metadata: { blob: 'x'.repeat(70 * 1024) } })),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
      expect(await activeMachines(server, licenseId)).toBe(0);
    });

    it('a body of exactly 64 KiB is read (and then judged on its content)', async () => {
      const { key } = await seedLicense(server);
      const base = JSON.stringify({ fingerprint: 'abcdefgh', metadata: { blob: '' } });
      const body = JSON.stringify({ fingerprint: 'abcdefgh', metadata: { blob: 'x'.repeat(64 * 1024 - base.length) } });
      expect(Buffer.byteLength(body)).toBe(64 * 1024);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: { ...licenseAuth(key), 'Content-Type': 'application/json' },
        body,
      });
      // Under the transport limit, over the 16 KiB metadata cap.
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ pointer: '/metadata' }] });
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/jsonx'])(
      'a %s body: 415 UNSUPPORTED_MEDIA_TYPE',
      async (contentType) => {
        const { key, licenseId } = await seedLicense(server);
        const response = await fetch(`${server.apiUrl}/machines`, {
          method: 'POST',
          headers: { ...licenseAuth(key), 'Content-Type': contentType },
          body: JSON.stringify(machineBody()),
        });
        expect(response.status).toBe(415);
        expect(await response.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
        expect(await activeMachines(server, licenseId)).toBe(0);
      },
    );

    it('a body without any content type: 415', async () => {
      const { key } = await seedLicense(server);
      const response = await fetch(`${server.apiUrl}/machines`, {
        method: 'POST',
        headers: licenseAuth(key),
        body: new Blob([JSON.stringify(machineBody())]),
      });
      expect(response.status).toBe(415);
    });
  });
});
