/**
 * The processes a bench starts: servers under test (each its own process, so its CPU and memory
 * are its own) and autocannon load generators. Whatever way the bench ends, none outlives it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Result } from 'autocannon';

export const ROOT = path.resolve(import.meta.dirname, '../..');

const children = new Set<ChildProcess>();
export const scratch = mkdtempSync(path.join(tmpdir(), 'licentric-bench-'));
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function track(child: ChildProcess): { exited: Promise<number | null>; stderr: () => string } {
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { exited, stderr: () => stderr };
}

export interface Running {
  url: string;
  /** CPU seconds the process has used so far (user + system), or NaN where /proc cannot tell. */
  cpuSeconds(): number;
  /** CPU seconds per thread name (the main thread, V8's and libuv's helpers), from /proc. */
  cpuByThread(): Map<string, number>;
  /** Resident memory now and its peak so far, in bytes (VmRSS, VmHWM), or NaN. */
  memory(): { rss: number; peak: number };
  /** Whether it has exited, and what it wrote to stderr so far: why a run's requests failed. */
  exited(): { exited: boolean; stderr: string };
  stop(): Promise<void>;
}

/** User + system CPU seconds of a /proc `stat` line: fields 14 and 15, after the parenthesised name. */
function cpuSecondsIn(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function cpuSecondsOf(pid: number | undefined): number {
  try {
    return cpuSecondsIn(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return Number.NaN;
  }
}

function cpuByThreadOf(pid: number | undefined): Map<string, number> {
  const byName = new Map<string, number>();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      // The main thread is the one whose id is the process's; helpers share names.
      const key = task === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byName.set(key, (byName.get(key) ?? 0) + cpuSecondsIn(stat));
    }
  } catch {
    // A thread that ended between the listing and the read: its time is gone from both reads.
  }
  return byName;
}

function memoryOf(pid: number | undefined): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return { rss: Number.NaN, peak: Number.NaN };
  }
}

/**
 * Starts `node <script…>` in `cwd` on a free port with production settings (info-level request
 * logging on, to /dev/null: its cost is paid, nothing kept; the culling worker elsewhere) and
 * waits until `/readyz` answers.
 */
export async function startServer(
  label: string,
  script: string[],
  env: Record<string, string>,
  cwd = ROOT,
): Promise<Running> {
  const port = await freePort();
  // BENCH_CPU_PROF=<folder>: each server writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`]
    : [];
  // Leading NAME=value words are the environment the command sets, as `env` reads them (serveCommand).
  // BENCH_SERVER_LOG=<folder>: each server's log is kept there (<label>-<port>.log), for a run
  // whose requests failed; otherwise it goes nowhere, its cost paid.
  const logDir = process.env.BENCH_SERVER_LOG ? path.resolve(process.env.BENCH_SERVER_LOG) : undefined;
  if (logDir !== undefined) mkdirSync(logDir, { recursive: true });
  const logFd =
    logDir === undefined ? undefined : openSync(path.join(logDir, `${label.replace(/\W+/g, '-')}-${port}.log`), 'w');
  const leading = script.findIndex((word) => !ASSIGNMENT.test(word));
  const assignments = script.slice(0, leading === -1 ? script.length : leading);
  const child = spawn(process.execPath, [...profile, ...script.slice(assignments.length)], {
    cwd,
    env: {
      ...process.env,
      LICENTRIC_CULL_IN_SERVER: 'false',
      LICENTRIC_DATA_DIR: scratch,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      ...Object.fromEntries(
        assignments.map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]),
      ),
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', logFd ?? 'ignore', 'pipe'],
  });
  // The child has its own copy of the descriptor.
  if (logFd !== undefined) closeSync(logFd);
  const { exited, stderr } = track(child);
  let dead = false;
  void exited.then(() => (dead = true));
  const url = `http://127.0.0.1:${port}`;
  for (const started = Date.now(); ; ) {
    if (dead) throw new Error(`${label} exited before it was ready:\n${stderr()}`);
    if (Date.now() - started > 60_000) throw new Error(`${label} not ready after 60 s:\n${stderr()}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    cpuSeconds: () => cpuSecondsOf(child.pid),
    cpuByThread: () => cpuByThreadOf(child.pid),
    memory: () => memoryOf(child.pid),
    exited: () => ({ exited: dead, stderr: stderr() }),
    stop: async () => {
      if (!dead) child.kill('SIGTERM');
      await exited;
    },
  };
}

const built = new Set<string>();

/**
 * `licentric serve` in `root` as the installed binary runs it: the compiled `dist/cli.js`, built
 * here once per run with the checkout's own `npm run build`, with the Node options of its shebang
 * line (the heap sizes and compiler settings that keep its memory down; bench/README.md). Not
 * `src/cli.ts`: Node's type stripping would add ~25 MiB that no installed copy carries.
 */
export function serveCommand(root: string): string[] {
  // BENCH_SERVE_FROM=src: `src/cli.ts` through type stripping, as `make run` and `npm start` did
  // before they ran dist/, for the memory figures of the two side by side.
  if (process.env.BENCH_SERVE_FROM?.trim() === 'src')
    return [...shebangOptions(root, 'src/cli.ts'), 'src/cli.ts', 'serve'];
  if (!built.has(root)) {
    const started = performance.now();
    const bin = path.join(root, 'node_modules', '.bin');
    execFileSync('npm', ['run', '-s', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
    });
    console.log(`serve: dist/ built by npm run build in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    built.add(root);
  }
  return [...shebangOptions(root, 'dist/cli.js'), 'dist/cli.js', 'serve'];
}

const ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=/;

/**
 * What the shebang line of `root/script` sets before Node's options (`env -S NAME=value … node`),
 * then those options: the command line its server runs with, less `node`.
 */
function shebangOptions(root: string, script: string): string[] {
  const shebang = readFileSync(path.join(root, script), 'utf8').split('\n', 1)[0]!;
  const [, assignments, options] =
    /^#!\S*\benv -S((?: [A-Z_][A-Z0-9_]*=\S+)*) node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(shebang) ?? [];
  return [...(assignments?.trim().split(' ') ?? []), ...(options?.trim().split(' ') ?? [])].filter(Boolean);
}

/**
 * Runs a load generator script on a plan (written to a file for it) and returns its result.
 * Aborting `stop` ends the run early (bench/hot/load.ts: at its next one-second tick).
 */
export async function runLoad(script: string, plan: object, stop?: AbortSignal): Promise<Result> {
  const planFile = path.join(scratch, `plan-${process.hrtime.bigint()}.json`);
  writeFileSync(planFile, JSON.stringify(plan));
  const child = spawn(process.execPath, [path.join(ROOT, script), planFile], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { exited, stderr } = track(child);
  stop?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const code = await exited;
  if (code !== 0) throw new Error(`the load generator failed (${code}):\n${stderr()}`);
  return JSON.parse(stdout) as Result;
}
