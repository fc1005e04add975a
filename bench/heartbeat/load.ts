/**
 * The load generator: autocannon in a process of its own, so its CPU is not the server's event
 * loop. Reads the plan (a JSON file named by argv[2]), prints autocannon's result as JSON.
 *
 * Requests go round-robin over every (machine, license key) pair through one counter shared by
 * all connections: consecutive requests hit different machines, so no two in flight wait on one
 * machine's row lock, as in a fleet where each machine beats every few minutes.
 */
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';

export interface LoadPlan {
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  targets: { id: string; key: string }[];
}

const plan = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as LoadPlan;
let next = 0;

const result = await autocannon({
  url: plan.url,
  connections: plan.connections,
  duration: plan.duration,
  pipelining: 1,
  timeout: 10,
  requests: [
    {
      method: 'POST',
      setupRequest: (request) => {
        const target = plan.targets[next++ % plan.targets.length]!;
        return {
          ...request,
          path: `/api/v1/machines/${target.id}/heartbeat`,
          headers: { authorization: `License ${target.key}`, 'content-length': '0' },
        };
      },
    },
  ],
});

process.stdout.write(`${JSON.stringify(result)}\n`);
