import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceparent } from '../src/core/trace.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { startWorkerSchedule } from '../src/worker.ts';
import { activate, licenseAuth, seedLicense, useTestServer } from './support/harness.ts';

const metrics = new Metrics();
const logLines: Record<string, unknown>[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
    logLines.push(JSON.parse(line) as Record<string, unknown>);
});
const server = useTestServer({
  metrics,
  logTo: logStream,
  rateLimits: { ip: null, license: { points: 2, seconds: 60 }, apiKey: null, authFailures: null },
});
let metricsServer: Server;
let metricsUrl: string;

beforeAll(async () => {
  metricsServer = await metrics.serve(0, '127.0.0.1');
  metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;
});
afterAll(() => new Promise((resolve) => metricsServer.close(resolve)));

async function scrape(): Promise<string> {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

/** The value of one sample, e.g. `licentric_heartbeats_total{outcome="NOT_REQUIRED"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics on its own port', () => {
  it('counts requests by operation and status, heartbeats by outcome, refusals by budget, latency and the pool', async () => {
    const { key } = await seedLicense(server);
    const machine = await activate(server, key);
    const beat = () =>
      fetch(`${server.apiUrl}/machines/${machine.id}/heartbeat`, { method: 'POST', headers: licenseAuth(key) });
    expect((await beat()).status).toBe(200);
    expect((await beat()).status).toBe(429);

    const text = await scrape();
    expect(sample(text, 'licentric_http_requests_total{operation="activateMachine",status="201"}')).toBe(1);
    expect(sample(text, 'licentric_http_requests_total{operation="pingMachineHeartbeat",status="200"}')).toBe(1);
    expect(sample(text, 'licentric_http_requests_total{operation="pingMachineHeartbeat",status="429"}')).toBe(1);
    expect(sample(text, 'licentric_heartbeats_total{outcome="NOT_REQUIRED"}')).toBe(1);
    expect(sample(text, 'licentric_heartbeats_total{outcome="RATE_LIMITED"}')).toBe(1);
    expect(sample(text, 'licentric_rate_limited_total{limit="license"}')).toBe(1);
    expect(sample(text, 'licentric_http_request_duration_seconds_count{operation="pingMachineHeartbeat"}')).toBe(2);
    expect(sample(text, 'licentric_db_pool_connections{state="waiting"}')).toBe(0);
    expect(sample(text, 'licentric_db_pool_connections{state="in_use"}')).toBeGreaterThanOrEqual(0);
  });

  it('reports active machines by heartbeat status and each cull pass with the machines it culled', async () => {
    const { key } = await seedLicense(server);
    await server.sql(
      `update policies set require_heartbeat = true, heartbeat_duration = 600, heartbeat_resurrection_window = 0`,
    );
    const before = sample(await scrape(), 'licentric_machines{heartbeat_status="ALIVE"}') ?? 0;
    await activate(server, key);
    // The count is cached for 30 s of wall-clock time; a fresh Metrics on the same database sees it now.
    const fresh = new Metrics();
    fresh.watchMachines(() => server.orm.em.fork(), server.clock);
    const alive = sample(await fresh.registry.metrics(), 'licentric_machines{heartbeat_status="ALIVE"}')!;
    expect(alive).toBeGreaterThan(0);
    expect(alive).toBeGreaterThanOrEqual(before);

    server.clock.advance(601_000);
    const schedule = startWorkerSchedule(server.orm, server.clock, createLogger('silent'), '0 0 1 1 *', (result) =>
      metrics.observeCull(result),
    );
    await schedule.trigger();
    await schedule.stop();
    const text = await scrape();
    expect(sample(text, 'licentric_cull_pass_duration_seconds_count')).toBe(1);
    expect(sample(text, 'licentric_machines_culled_total{action="deactivated"}')).toBe(alive);
  });

  it('answers only GET /metrics there', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
  });
});

describe('traceparent', () => {
  it("puts the caller's trace id into the request's log lines", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const requestId = 'trace-test-1';
    await fetch(`${server.apiUrl}/policies`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'X-Request-Id': requestId },
    });
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logLines.filter((line) => line.requestId === requestId);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ traceId, parentSpanId: '00f067aa0ba902b7' });
  });

  it('ignores a malformed traceparent', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentSpanId: '00f067aa0ba902b7',
    });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('not a trace')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });
});
