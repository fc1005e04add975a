import { describe, expect, it } from 'vitest';
import {
  activate,
  activated,
  activeMachines,
  licenseAuth,
  machineBody,
  rawActivate,
  seedLicense,
  useTestServer,
} from './support/harness.ts';

const server = useTestServer();

/** Fires all requests at once over separate connections and tallies the statuses. */
async function storm(count: number, request: (i: number) => Promise<Response>): Promise<Record<number, number>> {
  const responses = await Promise.all(Array.from({ length: count }, (_, i) => request(i)));
  const tally: Record<number, number> = {};
  for (const response of responses) tally[response.status] = (tally[response.status] ?? 0) + 1;
  return tally;
}

describe('limits hold under concurrency', () => {
  it('50 concurrent activations against a limit of 5 create exactly 5', async () => {
    const { key, licenseId } = await seedLicense(server, { maxMachines: 5 });
    const tally = await storm(50, () => rawActivate(server, key));
    expect(tally).toEqual({ 201: 5, 422: 45 });
    expect(await activeMachines(server, licenseId)).toBe(5);
  });

  it('50 concurrent activations of one fingerprint create exactly 1', async () => {
    const { key, licenseId } = await seedLicense(server);
    const body = machineBody();
    const tally = await storm(50, () => rawActivate(server, key, body));
    expect(tally).toEqual({ 201: 1, 409: 49 });
    expect(await activeMachines(server, licenseId)).toBe(1);
  });

  it('concurrent deactivations and activations never exceed the limit', async () => {
    const { key, licenseId } = await seedLicense(server, { maxMachines: 3 });
    const ids = await activated(server, key, 3);
    const deactivations = ids.map((id) =>
      fetch(`${server.apiUrl}/machines/${id}`, { method: 'DELETE', headers: licenseAuth(key) }),
    );
    const activations = Array.from({ length: 20 }, () => rawActivate(server, key));
    const statuses = (await Promise.all([...deactivations, ...activations])).map((r) => r.status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    const created = statuses.slice(3).filter((s) => s === 201).length;
    expect(created).toBeLessThanOrEqual(3);
    expect(await activeMachines(server, licenseId)).toBe(created);
    expect(await activeMachines(server, licenseId)).toBeLessThanOrEqual(3);
  });

  it('the database itself refuses a second active row for a fingerprint', async () => {
    const { key, licenseId } = await seedLicense(server);
    const body = machineBody();
    await activate(server, key, body);
    await expect(
      server.sql(
        `insert into machines (id, license_id, fingerprint, metadata, last_heartbeat_at, created_at, updated_at)
         values (gen_random_uuid(), $1, $2, '{}', now(), now(), now())`,
        [licenseId, body.fingerprint],
      ),
    ).rejects.toThrow(/machines_active_fingerprint_unique/);
  });
});
