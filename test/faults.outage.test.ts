import { afterAll, describe, expect, it } from 'vitest';
import { type EmbeddedDatabase, startEmbeddedDatabase } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';
import {
  activate,
  connectEmbedded,
  embeddedEnv,
  firstAdminToken,
  freePort,
  type Outcome,
  seedThroughApi,
  send,
  Tally,
  TempDirs,
  until,
} from './support/faults.ts';
import { type ServerProcess, startServerProcess } from './support/processes.ts';

/**
 * A server process on a PostgreSQL this test stops and starts again, under heartbeat and list
 * traffic with valid credentials. What the clients were told is counted per phase and printed.
 */
describe('a database outage under traffic', () => {
  const dirs = new TempDirs();
  let database: EmbeddedDatabase | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    await database?.stop();
    await dirs.removeAll();
  });

  it('answers 503 with Retry-After (never 401, 403 or 500), /readyz says so, and it recovers by itself', async () => {
    const log = createLogger('warn', process.stderr);
    const dataDir = await dirs.make();
    // A fixed port: the server's DATABASE_URL must find PostgreSQL again where it was.
    const port = await freePort();
    database = await startEmbeddedDatabase(dataDir, log, { port });
    server = await startServerProcess({
      DATABASE_URL: database.url,
      LICENTRIC_SECRET: 'outage-secret-that-is-long-enough-0123456789',
      LICENTRIC_CULL_CRON: '* * * * * *',
      LICENTRIC_DB_ACQUIRE_TIMEOUT_MS: '2000',
      // Six clients send as fast as answers come, for as long as the phases take: on a quick
      // run that passes the default budgets of one license key and one address, and a 429 is
      // not what this test is about (test/rate-limits.test.ts holds the budgets).
      LICENTRIC_RATE_LIMIT_LICENSE: 'off',
      LICENTRIC_RATE_LIMIT_IP: 'off',
    });
    const admin = firstAdminToken(server);
    const seeded = await seedThroughApi(server, admin);
    const activated = await activate(seeded, 'outage-machine');
    expect('status' in activated && activated.status).toBe(201);
    const machineId = (JSON.parse((activated as { body: string }).body) as { data: { id: string } }).data.id;
    const base = `http://127.0.0.1:${server.port}`;

    const phases = { before: new Tally(), outage: new Tally(), recovery: new Tally(), after: new Tally() };
    let phase: keyof typeof phases = 'before';
    let running = true;
    const requests: (() => Promise<Outcome>)[] = [
      () =>
        send(`${seeded.api}/machines/${machineId}/heartbeat`, {
          method: 'POST',
          headers: { Authorization: `License ${seeded.key}` },
        }),
      () => send(`${seeded.api}/machines?limit=5`, { headers: { Authorization: `Bearer ${admin}` } }),
      () =>
        send(`${seeded.api}/licenses/actions/validate`, {
          method: 'POST',
          headers: { Authorization: `License ${seeded.key}` },
        }),
    ];
    const clients = Array.from({ length: 6 }, async (_, i) => {
      while (running) {
        const tally = phases[phase];
        tally.add(await requests[i % requests.length]!());
      }
    });

    await until('traffic before the outage', () => phases.before.total >= 60);
    phase = 'outage';
    const cut = performance.now();
    await database.stop();
    const ready = await send(`${base}/readyz`);
    await until('requests during the outage', () => phases.outage.total >= 60 && performance.now() - cut > 3000);
    await until('a worker pass during the outage', () =>
      server!.logs().some((l) => /^cull pass (skipped|failed)/.test(l.msg ?? '')),
    );

    database = await startEmbeddedDatabase(dataDir, log, { port });
    const back = performance.now();
    phase = 'recovery';
    await until('a heartbeat answered again', async () => {
      const outcome = await requests[0]!();
      return 'status' in outcome && outcome.status === 200;
    });
    const recoveredMs = performance.now() - back;
    phase = 'after';
    await until('traffic after the outage', () => phases.after.total >= 60);
    const afterRecovery = new Date().toISOString();
    await until('a worker pass after the outage', () =>
      server!
        .logs()
        .some(
          (l) =>
            typeof l.msg === 'string' && l.msg.startsWith('cull pass deactivated') && String(l.time) > afterRecovery,
        ),
    );
    running = false;
    await Promise.all(clients);

    const all = Object.values(phases).flatMap((tally) => tally.outcomes);
    const slowest = Math.max(...phases.outage.outcomes.map((o) => o.ms));
    console.log(
      `outage of ${((back - cut) / 1000).toFixed(1)} s: before ${phases.before}; during ${phases.outage}; ` +
        `while PostgreSQL came back ${phases.recovery}; after ${phases.after}; ` +
        `recovered ${recoveredMs.toFixed(0)} ms after PostgreSQL was back; slowest answer during the outage ${slowest.toFixed(0)} ms`,
    );

    // Nothing but the truth: a valid credential is never refused, nothing is an internal error.
    for (const status of [401, 403, 500])
      expect(all.filter((o) => 'status' in o && o.status === status)).toHaveLength(0);
    expect(
      all.filter((o) => 'error' in o),
      'requests whose connection failed',
    ).toHaveLength(0);
    const refused = all.filter((o): o is Extract<Outcome, { status: number }> => 'status' in o && o.status !== 200);
    for (const outcome of refused) {
      expect(outcome.status).toBe(503);
      expect(outcome.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(JSON.parse(outcome.body)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    }
    expect(phases.outage.count(503)).toBeGreaterThan(0);
    expect(phases.after.count(200)).toBe(phases.after.total);
    // Requests never hang: each is bounded by the pool's acquire timeout (2 s here).
    expect(slowest).toBeLessThan(5000);
    expect(recoveredMs).toBeLessThan(10_000);
    expect('status' in ready && ready.status).toBe(503);
    expect('status' in ready && ready.headers.get('retry-after')).toMatch(/^\d+$/);

    // The worker skipped the passes it could not run, said so, and ran the next one (above).
    const passes = server.logs().filter((l) => /^cull pass (skipped|failed)/.test(l.msg ?? ''));
    expect(passes.every((l) => l.level === 'warn' && l.msg!.startsWith('cull pass skipped'))).toBe(true);

    // Every 503 is logged at warn with its request id.
    const logged = server.logs().filter((l) => l.msg === 'database unavailable; answered 503');
    expect(logged.length).toBeGreaterThanOrEqual(phases.outage.count(503));
    expect(logged.every((l) => l.level === 'warn' && typeof l.requestId === 'string')).toBe(true);
  }, 90_000);

  it('answers 503 when the database is too slow: a statement past its timeout, or no free connection in time', async () => {
    const dataDir = await dirs.make();
    const slow = await startServerProcess(
      embeddedEnv(dataDir, { LICENTRIC_DB_STATEMENT_TIMEOUT_MS: '1000', LICENTRIC_DB_ACQUIRE_TIMEOUT_MS: '300' }),
    );
    try {
      const seeded = await seedThroughApi(slow, firstAdminToken(slow));
      // A lock held from outside: activations of this license wait on it, each holding one of
      // the pool's 10 connections; the two beyond those wait for a connection instead.
      const holder = await connectEmbedded(dataDir);
      await holder.query('begin');
      await holder.query('select 1 from licenses where id = $1 for update', [seeded.licenseId]);
      const tally = new Tally();
      for (const outcome of await Promise.all(
        Array.from({ length: 12 }, (_, i) => activate(seeded, `slow-database-${i}`)),
      ))
        tally.add(outcome);
      await holder.query('rollback');
      await holder.end();
      const slowest = Math.max(...tally.outcomes.map((o) => o.ms));
      console.log(
        `12 activations against a locked license, statements bounded at 1 s, connections at 0.3 s: ${tally}; slowest ${slowest.toFixed(0)} ms`,
      );

      expect(tally.count(503)).toBe(12);
      for (const outcome of tally.outcomes)
        expect('status' in outcome && outcome.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(slowest).toBeLessThan(5000);
    } finally {
      expect(await slow.stop()).toBe(0);
    }
  }, 90_000);
});
