import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.ts';
import { initOrm, type Orm } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { CLI_ACTOR } from '../src/events/actor.ts';
import { KeyHasher } from '../src/keys/hashing.ts';
import { createLogger } from '../src/log.ts';
import { MACHINE_EVENTS } from '../src/machines/events.ts';
import { Services } from '../src/services.ts';
import { createDatabase, licenseAuth, TEST_SECRET } from './support/harness.ts';
import { type ServerProcess, startServerProcess, startWorkerProcess } from './support/processes.ts';

/**
 * The claim of the README's "Running several replicas": two API processes and two workers on one
 * PostgreSQL, real processes over HTTP, all the load at once. The API replicas trust the loopback
 * proxy, so each part of the load comes from its own forwarded client address.
 */
const AUTH_FAILURE_BUDGET = 30;
const IP_BUDGET = 40;

let orm: Orm;
let services: () => Services;
const apis: ServerProcess[] = [];
const workers: ServerProcess[] = [];
const statuses: number[] = [];

beforeAll(async () => {
  const databaseUrl = await createDatabase();
  orm = await initOrm({ clientUrl: databaseUrl, entities: ENTITIES, log: createLogger('silent'), poolSize: 4 });
  services = () => new Services(orm.em.fork(), systemClock, new KeyHasher(TEST_SECRET), CLI_ACTOR);
  const env = {
    DATABASE_URL: databaseUrl,
    LICENTRIC_SECRET: TEST_SECRET,
    LICENTRIC_CULL_IN_SERVER: 'false',
    LICENTRIC_CULL_CRON: '* * * * * *',
    LICENTRIC_TRUST_PROXY: 'loopback',
    LICENTRIC_RATE_LIMIT_AUTH_FAILURES: `${AUTH_FAILURE_BUDGET}/600`,
    LICENTRIC_RATE_LIMIT_IP: `${IP_BUDGET}/600`,
    LICENTRIC_METRICS_PORT: '0',
  };
  const started = await Promise.all([
    startServerProcess(env),
    startServerProcess(env),
    startWorkerProcess(env),
    startWorkerProcess(env),
  ]);
  apis.push(started[0], started[1]);
  workers.push(started[2], started[3]);
}, 120_000);

afterAll(async () => {
  const codes = await Promise.all([...apis, ...workers].map((p) => p.stop()));
  await orm?.close();
  // The workers finish their pass and exit 0. The API processes' own exit status on SIGTERM under
  // load is the graceful-shutdown work's to assert, not this test's.
  expect(codes.slice(2)).toEqual([0, 0]);
}, 60_000);

let next = 0;
/** A request to the replicas in turn, from a forwarded client address; every status is recorded. */
async function call(
  ip: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: { code?: string; data?: { id: string } } }> {
  const api = apis[next++ % apis.length]!;
  const response = await fetch(`http://127.0.0.1:${api.port}/api/v1${path}`, {
    ...init,
    headers: { 'X-Forwarded-For': ip, 'Content-Type': 'application/json', ...(init.headers as Record<string, string>) },
  });
  statuses.push(response.status);
  return { status: response.status, body: (await response.json()) as { code?: string; data?: { id: string } } };
}

/** One series of a process's /metrics (its own port, from its log), 0 when absent. */
async function metric(process: ServerProcess, series: string): Promise<number> {
  const port = process.logs().find((line) => line.msg === 'metrics listening')!.metricsPort as number;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const sum = async (processes: ServerProcess[], series: string) =>
  (await Promise.all(processes.map((p) => metric(p, series)))).reduce((a, b) => a + b, 0);

async function seedCullable(strategy: 'DEACTIVATE_DEAD' | 'KEEP_DEAD', count: number): Promise<string[]> {
  const policy = await services().policies.create({
    name: `cull ${strategy}`,
    requireHeartbeat: true,
    heartbeatDuration: 600,
    heartbeatCullStrategy: strategy,
  });
  const { license: l } = await services().licenses.create({ policyId: policy.id, expiresAt: null });
  const ids: string[] = [];
  for (let i = 0; i < count; i++)
    ids.push((await services().machines.activate(l.id, { fingerprint: `cull-${strategy}-${i}-fingerprint` })).id);
  // Their last heartbeat a day ago: dead and past reviving for both workers' next passes.
  await orm.em
    .fork()
    .execute(`update machines set last_heartbeat_at = now() - interval '1 day' where license_id = ?`, [l.id]);
  return ids;
}

describe('two API replicas and two workers on one database', () => {
  it('hold every limit, cull each machine once, count failed authentication across replicas, and never answer 5xx', async () => {
    const limited = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const policy = await services().policies.create({ name: `limit ${n}`, maxMachines: 5 });
        return (await services().licenses.create({ policyId: policy.id, expiresAt: null })).key;
      }),
    );
    const deactivate = await seedCullable('DEACTIVATE_DEAD', 60);
    const keepDead = await seedCullable('KEEP_DEAD', 40);

    const activations = limited.map((key, n) =>
      Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          call(`192.0.2.${n + 1}`, '/machines', {
            method: 'POST',
            headers: licenseAuth(key),
            body: JSON.stringify({ fingerprint: `limit-${n}-${i}-fingerprint` }),
          }),
        ),
      ),
    );
    const flood = Promise.all(
      Array.from({ length: 2 * AUTH_FAILURE_BUDGET }, (_, i) =>
        call('203.0.113.66', '/licenses/actions/validate', { method: 'POST', headers: licenseAuth(`TST-GUESS-${i}`) }),
      ),
    );
    const [activated, floodAnswers] = await Promise.all([Promise.all(activations), flood]);

    // Activations near a limit: exactly five per license, across both replicas.
    for (const answers of activated) {
      expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
      expect(answers.filter((a) => a.status === 422).map((a) => a.body.code)).toEqual(
        Array(10).fill('MACHINE_LIMIT_EXCEEDED'),
      );
    }
    const active = await orm.em
      .fork()
      .execute<{ n: number }[]>(
        `select count(*)::int as n from machines where deleted_at is null and fingerprint like 'limit-%'`,
      );
    expect(active[0]!.n).toBe(15);

    // Failed authentication counted in PostgreSQL, shared by both replicas: exactly the budget of 401s.
    expect(floodAnswers.filter((a) => a.status === 401)).toHaveLength(AUTH_FAILURE_BUDGET);
    expect(floodAnswers.filter((a) => a.status === 429)).toHaveLength(AUTH_FAILURE_BUDGET);

    // Heartbeats of the activated machines on both replicas, while the workers cull.
    const machines = activated.flatMap((answers, n) =>
      answers.filter((a) => a.status === 201).map((a) => ({ id: a.body.data!.id, key: limited[n]! })),
    );
    const beats = await Promise.all(
      machines.flatMap(({ id, key }, i) =>
        Array.from({ length: 3 }, () =>
          call(`192.0.2.${10 + (i % 5)}`, `/machines/${id}/heartbeat`, { method: 'POST', headers: licenseAuth(key) }),
        ),
      ),
    );
    expect(beats.map((b) => b.status)).toEqual(Array(beats.length).fill(200));

    // Successful traffic is counted per replica in memory: one address gets at most 2 × its budget.
    const sameAddress = await Promise.all(
      Array.from({ length: 3 * IP_BUDGET }, (_, i) =>
        call('198.51.100.200', '/licenses/actions/validate', { method: 'POST', headers: licenseAuth(limited[i % 3]!) }),
      ),
    );
    const served = sameAddress.filter((a) => a.status === 200).length;
    expect(served).toBeGreaterThan(IP_BUDGET);
    expect(served).toBeLessThanOrEqual(2 * IP_BUDGET);
    expect(sameAddress.filter((a) => a.status !== 200).map((a) => a.status)).toEqual(
      Array(3 * IP_BUDGET - served).fill(429),
    );

    // Each dead machine culled exactly once by one of the two workers.
    const deadline = Date.now() + 60_000;
    const pending = async () =>
      (
        await orm.em
          .fork()
          .execute<{ n: number }[]>(
            `select count(*)::int as n from machines where (id in (?) and deleted_at is null) or (id in (?) and dead_at is null)`,
            [deactivate, keepDead],
          )
      )[0]!.n;
    while ((await pending()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await pending()).toBe(0);
    const events = await orm.em
      .fork()
      .execute<{ machine_id: string; type: string; n: number }[]>(
        `select machine_id, type, count(*)::int as n from events where machine_id in (?) and type in (?) group by 1, 2`,
        [
          [...deactivate, ...keepDead],
          [MACHINE_EVENTS.deactivated, MACHINE_EVENTS.heartbeatDead],
        ],
      );
    expect(
      events.filter((e) => e.type === MACHINE_EVENTS.deactivated && deactivate.includes(e.machine_id)).map((e) => e.n),
    ).toEqual(Array(60).fill(1));
    expect(
      events.filter((e) => e.type === MACHINE_EVENTS.heartbeatDead && keepDead.includes(e.machine_id)).map((e) => e.n),
    ).toEqual(Array(40).fill(1));
    expect(events).toHaveLength(100);
    // Both workers ran passes: the once-only culling held with two of them at work.
    for (const worker of workers)
      expect(worker.logs().some((line) => typeof line.msg === 'string' && line.msg.startsWith('cull pass'))).toBe(true);

    // The heartbeating machines were never culled.
    const culledAlive = await orm.em
      .fork()
      .execute<{ n: number }[]>('select count(*)::int as n from machines where id in (?) and deleted_at is not null', [
        machines.map((m) => m.id),
      ]);
    expect(culledAlive[0]!.n).toBe(0);

    expect(statuses.filter((s) => s >= 500)).toEqual([]);

    // What the processes' own /metrics say agrees: the refusals by budget, and the workers' culls.
    expect(await sum(apis, 'licentric_rate_limited_total{limit="authFailures"}')).toBe(AUTH_FAILURE_BUDGET);
    expect(await sum(apis, 'licentric_rate_limited_total{limit="ip"}')).toBe(3 * IP_BUDGET - served);
    expect(await sum(workers, 'licentric_machines_culled_total{action="deactivated"}')).toBe(60);
    expect(await sum(workers, 'licentric_machines_culled_total{action="marked_dead"}')).toBe(40);
  }, 120_000);
});
