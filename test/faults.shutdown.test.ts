import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  activate,
  connectEmbedded,
  embeddedEnv,
  firstAdminToken,
  isAlive,
  postmasterOf,
  seedThroughApi,
  send,
  Tally,
  TempDirs,
  until,
} from './support/faults.ts';
import { type ServerProcess, startServerProcess } from './support/processes.ts';

/**
 * SIGTERM while requests are in flight: a row lock taken from outside holds a batch of
 * activations inside the server (each waits on its license's row), so they are in flight for
 * certain when the signal arrives; then the lock is let go.
 */
describe('SIGTERM under traffic', () => {
  const dirs = new TempDirs();
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const server of servers) if (server.child.exitCode === null) await server.stop();
    await dirs.removeAll();
  });

  it('finishes every request in flight, closes each connection cleanly, stops PostgreSQL and exits 0', async () => {
    const dataDir = await dirs.make();
    const server = await startServerProcess(
      embeddedEnv(dataDir, { LICENTRIC_SHUTDOWN_DELAY: '1', LICENTRIC_SHUTDOWN_GRACE: '15' }),
    );
    servers.push(server);
    const seeded = await seedThroughApi(server, firstAdminToken(server));
    const base = `http://127.0.0.1:${server.port}`;

    const holder = await connectEmbedded(dataDir);
    await holder.query('begin');
    await holder.query('select 1 from licenses where id = $1 for update', [seeded.licenseId]);
    // Fewer than the pool's 10 connections, so none waits for a connection instead.
    const inFlight = 8;
    const requests = Array.from({ length: inFlight }, (_, i) => activate(seeded, `in-flight-${i}`));
    // Another session: pg_stat_activity is a snapshot fixed for the length of a transaction.
    const watcher = await connectEmbedded(dataDir);
    await until('every activation waiting on the license lock', async () => {
      const { rows } = await watcher.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
      );
      return rows[0]!.n === inFlight;
    });
    await watcher.end();

    const signalled = performance.now();
    server.child.kill('SIGTERM');
    // Unready at once, while it still serves during the delay (asserted below, after the counts).
    let ready = await send(`${base}/readyz`);
    for (let tries = 0; tries < 20 && !('status' in ready && ready.status === 503); tries++)
      ready = await send(`${base}/readyz`);
    await holder.query('commit').catch(() => {});
    await holder.end().catch(() => {});

    const tally = new Tally();
    for (const outcome of await Promise.all(requests)) tally.add(outcome);
    const code = await server.exited;
    const exitedMs = performance.now() - signalled;
    const stopped = server.logs().find((l) => l.msg === 'stopped');
    console.log(
      `SIGTERM with ${inFlight} requests in flight: ${tally}; exit code ${code} after ${exitedMs.toFixed(0)} ms; ` +
        `drain ${String(stopped?.drainMs)} ms (1 s of it the unready delay)`,
    );

    expect(tally.count(201)).toBe(inFlight);
    for (const outcome of tally.outcomes)
      expect('status' in outcome && outcome.headers.get('connection')).toBe('close');
    expect(code).toBe(0);
    expect('status' in ready ? [ready.status, ready.headers.get('connection')] : ready.error).toEqual([503, 'close']);
    expect(exitedMs).toBeLessThan(15_000);
    expect(stopped).toMatchObject({ level: 'info', clean: true });
    expect(typeof stopped?.drainMs).toBe('number');
    // The PostgreSQL it started is stopped with it.
    const { pid } = postmasterOf(dataDir);
    expect(pid === undefined || !isAlive(pid)).toBe(true);
  }, 90_000);

  it('under a flood of 429s answered from memory, every request written gets a whole answer or its connection was refused', async () => {
    const dataDir = await dirs.make();
    const server = await startServerProcess(
      embeddedEnv(dataDir, { LICENTRIC_RATE_LIMIT_IP: '1/600', LICENTRIC_SHUTDOWN_GRACE: '15' }),
    );
    servers.push(server);
    const flood = new KeepAliveFlood(server.port, 12);
    await until('the flood to be refused from memory', () => flood.answers.get(429)! > 2_000);
    const signalled = performance.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const outcomes = await flood.stop();
    console.log(
      `SIGTERM under a 429 flood: ${JSON.stringify(Object.fromEntries(flood.answers))} answers, ${JSON.stringify(outcomes)}; ` +
        `exit ${code} after ${(performance.now() - signalled).toFixed(0)} ms`,
    );
    // A connection closed with a request written and no answer read: the request is lost.
    expect(outcomes.dropped).toEqual([]);
    expect(outcomes.refused).toBe(12);
    expect(code).toBe(0);
  }, 90_000);
});

/**
 * Keep-alive connections, each sending a request as soon as the answer to the previous one has
 * been read whole; a connection the server closes is opened again, until that is refused.
 */
class KeepAliveFlood {
  readonly answers = new Map<number, number>();
  readonly #dropped: string[] = [];
  #refused = 0;
  readonly #loops: Promise<void>[];

  constructor(port: number, connections: number) {
    this.#loops = Array.from({ length: connections }, () => this.#loop(port));
  }

  async #loop(port: number): Promise<void> {
    for (;;) {
      const outcome = await this.#connection(port);
      if (outcome === 'refused') {
        this.#refused += 1;
        return;
      }
      if (outcome !== 'closed') return void this.#dropped.push(outcome);
    }
  }

  /** One connection's life: 'closed' after a whole answer, 'refused', or what cut a request. */
  #connection(port: number): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let buffered = Buffer.alloc(0);
      let awaiting = false;
      let connected = false;
      const ask = () => {
        awaiting = true;
        socket.write('GET /api/v1/policies HTTP/1.1\r\nHost: flood\r\n\r\n');
      };
      socket.on('connect', () => {
        connected = true;
        ask();
      });
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.subarray(0, end).toString('latin1');
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.subarray(end + 4 + length);
          const status = Number(head.split(' ')[1]);
          this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
          awaiting = false;
          if (/\r\nconnection: *close/i.test(head)) return void socket.end();
          ask();
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (!connected) resolve('refused');
        else resolve(awaiting ? `request cut ${buffered.length} bytes into its answer` : 'closed');
      });
    });
  }

  async stop(): Promise<{ dropped: string[]; refused: number }> {
    await Promise.all(this.#loops);
    return { dropped: this.#dropped, refused: this.#refused };
  }
}
