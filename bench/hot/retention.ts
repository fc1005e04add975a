/**
 * What a request's objects cost when something keeps them past the request: two patterns issue 22
 * found in the server, reproduced on a bare node:http server (bench/README.md, "Issue 22, round
 * three"). Each variant serves heartbeat-sized answers after 2 ms (a request's life in the API)
 * to 20 keep-alive connections, while a timer keeps some objects for 200 ms, so that V8 runs full
 * collections as it does under a real server's load. V8's own trace (`--trace-gc-nvp`) says what
 * each scavenge promoted to the old generation.
 *
 *   node bench/hot/retention.ts            # every variant, 8 s each
 *
 * - plain           nothing kept
 * - set             each response added to one long-lived Set, deleted on close (the server's
 *                   open responses before 945c9c2)
 * - list            the same in the server's OpenResponses (src/http/open-responses.ts)
 * - getter-literal  an object literal with a `get log()` closing over the request, per request
 *                   (RequestScope before 5f4c6e1)
 * - getter-class    the same through a class's prototype getter (RequestScope now)
 */
import { spawn } from 'node:child_process';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { OpenResponses } from '../../src/http/open-responses.ts';

const VARIANTS = ['plain', 'set', 'list', 'getter-literal', 'getter-class'] as const;
type Variant = (typeof VARIANTS)[number];
const SECONDS = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = 20;
// The server's own heap options (src/cli.ts).
const NODE_OPTIONS = ['--max-semi-space-size=2', '--max-old-space-size=96', '--no-maglev'];

const BODY = Buffer.from(
  JSON.stringify({ data: { id: '0193a6f0-0000-7000-8000-000000000000', heartbeatStatus: 'ALIVE' } }),
);

class Scope {
  readonly #req: IncomingMessage;
  constructor(req: IncomingMessage) {
    this.#req = req;
  }
  get log(): string {
    return this.#req.url ?? '';
  }
}

/** The server, in a child process of its own (so its heap holds nothing of the load's). */
function serve(variant: Variant): void {
  const open = new Set<ServerResponse>();
  const list = new OpenResponses();
  const kept: unknown[] = [];
  // Objects that live 200 ms: the old generation grows, and full collections run.
  setInterval(() => {
    kept.length = 0;
    for (let i = 0; i < 50_000; i++) kept.push({ i });
  }, 200);
  const server = createServer((req, res) => {
    if (variant === 'set') {
      open.add(res);
      res.once('close', () => open.delete(res));
    } else if (variant === 'list') {
      const entry = list.add(res);
      res.once('close', () => list.delete(entry));
    }
    let scope: { readonly log: string } | undefined;
    if (variant === 'getter-literal')
      scope = {
        get log() {
          return req.url ?? '';
        },
      };
    else if (variant === 'getter-class') scope = new Scope(req);
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        // The scope is read at the end, as the access line reads the request's logger.
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': BODY.length,
          'x-path': scope?.log ?? '',
        });
        res.end(BODY);
      }, 2);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
}

async function load(port: number, seconds: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const end = performance.now() + seconds * 1000;
  let requests = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/heartbeat', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        await one();
        requests++;
      }
    }),
  );
  agent.destroy();
  return requests;
}

async function measure(variant: Variant): Promise<string> {
  const child = spawn(process.execPath, [...NODE_OPTIONS, '--trace-gc-nvp', fileURLToPath(import.meta.url), variant], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let measuring = false;
  let promoted = 0;
  let scavenges = 0;
  let full = 0;
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    if (!measuring) return;
    for (const line of lines) {
      const kind = / gc=(\w+)/.exec(line)?.[1];
      if (kind === 's') {
        scavenges++;
        promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
      } else if (kind !== undefined) full++;
    }
  });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  await load(port, 2); // warm-up
  measuring = true;
  const requests = await load(port, SECONDS);
  child.kill();
  await new Promise((resolve) => child.once('exit', resolve));
  return `${variant.padEnd(15)} ${requests} requests: promoted ${(promoted / requests / 1024).toFixed(2)} KiB/request, ${((scavenges * 1000) / requests).toFixed(1)} scavenges and ${full} full collections (${((full * 1000) / requests).toFixed(2)}/1 000 requests)`;
}

const asServer = process.argv[2] as Variant | undefined;
if (asServer !== undefined && VARIANTS.includes(asServer)) serve(asServer);
else {
  console.log(
    `bench/hot/retention  ${new Date().toISOString()}  node ${process.version}, ${NODE_OPTIONS.join(' ')}; ${CONNECTIONS} connections, ${SECONDS} s each`,
  );
  for (const variant of VARIANTS) console.log(await measure(variant));
}
