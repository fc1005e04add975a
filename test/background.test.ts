import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMetrics, startBackground } from '../src/background.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { TEST_SECRET, useTestServer } from './support/harness.ts';

const server = useTestServer();

/** A logger whose lines the test reads, in order. */
function capturedLog() {
  const lines: { msg: string; metricsPort?: number }[] = [];
  // Written as pino writes it, synchronously: a line is there once the call that logs it returns.
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('info', stream), messages: () => lines.map((line) => line.msg), lines };
}

/** A yearly schedule: no pass runs during the test. */
const configWith = (env: Record<string, string>) =>
  loadConfig({
    DATABASE_URL: server.databaseUrl,
    LICENTRIC_SECRET: TEST_SECRET,
    HOST: '127.0.0.1',
    LICENTRIC_WORKER_CRON: '0 0 1 1 *',
    ...env,
  });

const scrape = (port: number) =>
  fetch(`http://127.0.0.1:${port}/metrics`).then(
    (response) => response.status,
    () => 'refused',
  );

describe('the background parts of a process', () => {
  it('in serve: only those its settings keep in the server', async () => {
    const { log, messages } = capturedLog();
    const config = configWith({ LICENTRIC_WORKER_IN_SERVER: 'false', LICENTRIC_WEBHOOKS_IN_SERVER: 'false' });
    const background = await startBackground(server, config, {
      process: 'serve',
      metrics: undefined,
      clock: server.clock,
      log,
    });
    await background.stop();
    expect(messages()).not.toContain('cull worker scheduled');
    expect(messages()).not.toContain('webhook delivery started');
  });

  it('in worker: the schedule, webhook delivery and the metrics port, whatever the server settings; stop ends them all', async () => {
    const { log, messages, lines } = capturedLog();
    const config = configWith({
      LICENTRIC_WORKER_IN_SERVER: 'false',
      LICENTRIC_WEBHOOKS_IN_SERVER: 'false',
      LICENTRIC_METRICS_PORT: '0',
    });
    const metrics = await createMetrics(config);
    const background = await startBackground(server, config, { process: 'worker', metrics, clock: server.clock, log });
    expect(messages()).toEqual(
      expect.arrayContaining(['metrics listening', 'cull worker scheduled', 'webhook delivery started']),
    );
    const port = lines.find((line) => line.msg === 'metrics listening')!.metricsPort!;
    expect(await scrape(port)).toBe(200);

    await background.stop();
    expect(messages()).toContain('webhook delivery stopped');
    expect(await scrape(port)).toBe('refused');
  });
});
