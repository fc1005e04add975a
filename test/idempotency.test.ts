import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyKeys } from '../src/http/idempotency.ts';
import { createLogger } from '../src/log.ts';
import { workerPass } from '../src/worker.ts';
import {
  activate,
  bearer,
  licenseAuth,
  machineBody,
  seedApiKey,
  seedLicense,
  useApiKey,
  useTestServer,
} from './support/harness.ts';

const server = useTestServer();
const admin = useApiKey(server, ['admin']);
let policyId: string;

beforeAll(async () => {
  policyId = (await server.client.POST('/policies', { headers: admin, body: { name: 'idempotency' } })).data!.data.id;
});

const createLicense = (key: string, body: Record<string, unknown>, credentials = admin) =>
  fetch(`${server.apiUrl}/licenses`, {
    method: 'POST',
    headers: { ...credentials, 'Content-Type': 'application/json', 'Idempotency-Key': key },
    body: JSON.stringify(body),
  });

const licensesNamed = async (name: string) =>
  (await server.sql('select id from licenses where name = $1', [name])).length;

describe('Idempotency-Key', () => {
  it('replays the first success, status and body, marked Idempotent-Replayed, and creates one license', async () => {
    const key = randomUUID();
    const name = `replay ${key}`;
    const first = await createLicense(key, { policyId, name });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.json();

    // The same request with its keys in another order is the same request.
    const again = await createLicense(key, { name, policyId });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    expect(await licensesNamed(name)).toBe(1);
  });

  it('keeps the replayed body encrypted: the new license key is not in the database in the clear', async () => {
    const key = randomUUID();
    const created = (await (await createLicense(key, { policyId, name: `secret ${key}` })).json()) as {
      data: { key: string };
    };
    const rows = await server.sql<{ body: string }>('select body from idempotency_keys where key = $1', [key]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.body).not.toContain(created.data.key);
  });

  it('refuses the same key with a different body: 422 IDEMPOTENCY_KEY_REUSED, nothing created', async () => {
    const key = randomUUID();
    expect((await createLicense(key, { policyId, name: `first ${key}` })).status).toBe(201);
    const reused = await createLicense(key, { policyId, name: `second ${key}` });
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { code: string }).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await licensesNamed(`second ${key}`)).toBe(0);
  });

  it('refuses the same key on another operation: 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = randomUUID();
    expect((await createLicense(key, { policyId, name: `op ${key}` })).status).toBe(201);
    const other = await server.client.POST('/policies', {
      headers: { ...admin, 'Idempotency-Key': key },
      body: { name: `op ${key}` },
    });
    expect(other.response.status).toBe(422);
    expect(other.error?.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('answers 409 IDEMPOTENCY_KEY_IN_USE while the first request with the key is still running', async () => {
    // A first request caught mid-flight: claimed, no response yet (what the API writes before it acts).
    const { key: licenseKey, licenseId } = await seedLicense(server);
    const key = randomUUID();
    const body = machineBody();
    const fingerprint = IdempotencyKeys.fingerprint('activateMachine', { path: {}, query: {}, body });
    await server.sql('insert into idempotency_keys (scope, key, fingerprint, created_at) values ($1, $2, $3, $4)', [
      `license:${licenseId}`,
      key,
      fingerprint,
      server.clock.now(),
    ]);
    const busy = await server.client.POST('/machines', {
      headers: { ...licenseAuth(licenseKey), 'Idempotency-Key': key },
      body,
    });
    expect(busy.response.status).toBe(409);
    expect(busy.error?.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    expect(await server.sql('select id from machines where license_id = $1', [licenseId])).toEqual([]);

    // A first request that died with its process is taken over after a minute.
    server.clock.advance(61_000);
    const retried = await server.client.POST('/machines', {
      headers: { ...licenseAuth(licenseKey), 'Idempotency-Key': key },
      body,
    });
    expect(retried.response.status).toBe(201);
  });

  it('ten concurrent activations with one key create exactly one machine; every answer is that machine or 409', async () => {
    const { key: licenseKey, licenseId } = await seedLicense(server);
    const key = randomUUID();
    const body = machineBody();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        server.client.POST('/machines', { headers: { ...licenseAuth(licenseKey), 'Idempotency-Key': key }, body }),
      ),
    );
    const machines = await server.sql<{ id: string }>('select id from machines where license_id = $1', [licenseId]);
    expect(machines).toHaveLength(1);
    for (const answer of answers) {
      if (answer.response.status === 201) expect(answer.data!.data.id).toBe(machines[0]!.id);
      else expect([answer.response.status, answer.error?.code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
    }
    expect(answers.filter((a) => a.response.status === 201).length).toBeGreaterThanOrEqual(1);
    // Once the first has finished, every retry gets its answer.
    const after = await server.client.POST('/machines', {
      headers: { ...licenseAuth(licenseKey), 'Idempotency-Key': key },
      body,
    });
    expect([after.response.status, after.data?.data.id, after.response.headers.get('idempotent-replayed')]).toEqual([
      201,
      machines[0]!.id,
      'true',
    ]);
  });

  it('is scoped to the credential: another API key with the same key acts on its own', async () => {
    const key = randomUUID();
    const other = bearer(await seedApiKey(server, ['licenses:write']));
    expect((await createLicense(key, { policyId, name: `scoped ${key}` })).status).toBe(201);
    const second = await createLicense(key, { policyId, name: `scoped ${key}` }, other);
    expect([second.status, second.headers.get('idempotent-replayed')]).toEqual([201, null]);
    expect(await licensesNamed(`scoped ${key}`)).toBe(2);
  });

  it('keeps no refusal: after 422 MACHINE_LIMIT_EXCEEDED, a retry with the key once a seat is free activates', async () => {
    const { key: licenseKey } = await seedLicense(server, { maxMachines: 1 });
    const auth = licenseAuth(licenseKey);
    const holder = await activate(server, licenseKey);
    const key = randomUUID();
    const body = machineBody();
    const refused = await server.client.POST('/machines', { headers: { ...auth, 'Idempotency-Key': key }, body });
    expect(refused.error?.code).toBe('MACHINE_LIMIT_EXCEEDED');
    await server.client.DELETE('/machines/{id}', { headers: auth, params: { path: { id: holder.id } } });
    const retried = await server.client.POST('/machines', { headers: { ...auth, 'Idempotency-Key': key }, body });
    expect([retried.response.status, retried.response.headers.get('idempotent-replayed')]).toEqual([201, null]);
  });

  it('works on license actions: a replayed suspend answers as the first did', async () => {
    const { licenseId } = await seedLicense(server);
    const key = randomUUID();
    const suspend = () =>
      server.client.POST('/licenses/{id}/actions/suspend', {
        headers: { ...admin, 'Idempotency-Key': key },
        params: { path: { id: licenseId } },
      });
    const first = await suspend();
    const second = await suspend();
    expect(second.data).toEqual(first.data);
    expect(second.response.headers.get('idempotent-replayed')).toBe('true');
  });

  it('rejects a key longer than 255 characters with 400 VALIDATION_FAILED', async () => {
    const response = await createLicense('k'.repeat(256), { policyId });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it('is kept 24 hours: the worker deletes older keys, after which the key acts again', async () => {
    const key = randomUUID();
    const name = `expiring ${key}`;
    expect((await createLicense(key, { policyId, name })).status).toBe(201);
    server.clock.advance(23 * 3600_000);
    await workerPass(server.orm, server.clock, createLogger('silent'));
    expect((await createLicense(key, { policyId, name })).headers.get('idempotent-replayed')).toBe('true');
    server.clock.advance(3600_000 + 1);
    await workerPass(server.orm, server.clock, createLogger('silent'));
    expect(await server.sql('select key from idempotency_keys where key = $1', [key])).toEqual([]);
    expect((await createLicense(key, { policyId, name })).headers.get('idempotent-replayed')).toBeNull();
    expect(await licensesNamed(name)).toBe(2);
  });
});
