/**
 * The load generator of bench/hot: autocannon in a process of its own, so its CPU is not the
 * server's event loop. Reads the plan (a JSON file named by argv[2]), prints autocannon's result
 * as JSON.
 *
 * Requests go round-robin over the plan's requests through one counter shared by every
 * connection, so consecutive requests hit different machines and licenses. `{n}` in a path or
 * body becomes that counter, prefixed with the run's own tag: every activation gets a fingerprint
 * never used before. SIGTERM ends the run before its duration, with the result so far.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';

export interface PlannedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadPlan {
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  requests: PlannedRequest[];
}

const plan = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as LoadPlan;
const tag = randomBytes(4).toString('hex');
let next = 0;

const run = autocannon({
  url: plan.url,
  connections: plan.connections,
  duration: plan.duration,
  pipelining: 1,
  timeout: 10,
  requests: [
    {
      setupRequest: (request) => {
        const n = next++;
        const planned = plan.requests[n % plan.requests.length]!;
        const fill = (text: string) => text.replaceAll('{n}', `${tag}-${n}`);
        const body = planned.body === undefined ? undefined : fill(planned.body);
        return {
          ...request,
          method: planned.method,
          path: fill(planned.path),
          // autocannon adds the Content-Length of a body itself.
          headers: {
            ...planned.headers,
            ...(body === undefined ? { 'content-length': '0' } : { 'content-type': 'application/json' }),
          },
          body,
        };
      },
    },
  ],
});
// SIGTERM ends the run early, at autocannon's next one-second tick, and prints what it measured
// so far: bench/scale measures heartbeats for exactly as long as a worker pass takes.
process.once('SIGTERM', () => run.stop());
const result = await run;

process.stdout.write(`${JSON.stringify(result)}\n`);
