import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'src', 'cli.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a separate process, as a user would (`npm run licentric -- …`). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], env);
}

/** Runs a program in the repository to its end, with `env` over this process's environment. */
export function runProcess(command: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stderr(): string;
  /** The JSON log lines printed so far. */
  logs(): { msg?: string; [key: string]: unknown }[];
  stop(): Promise<number | null>;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Starts `licentric serve` as its own process and waits until it listens. `root` runs the CLI of
 * another copy of the project (the clone under a 0700 folder).
 */
export function startServerProcess(env: Record<string, string>, root = ROOT): Promise<ServerProcess> {
  return startCliProcess(['serve'], 'listening', env, root);
}

/** Starts `licentric worker` as its own process and waits until it has scheduled its passes. */
export function startWorkerProcess(env: Record<string, string>): Promise<ServerProcess> {
  return startCliProcess(['worker'], 'cull worker scheduled', env);
}

function startCliProcess(
  args: string[],
  readyMessage: string,
  env: Record<string, string>,
  root = ROOT,
): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const cli = path.join(root, 'src', 'cli.ts');
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: root,
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    });
    let stderr = '';
    let buffered = '';
    const logs: { msg?: string }[] = [];
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (const line of buffered.split('\n').slice(0, -1)) {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        logs.push(entry);
        if (entry.msg === readyMessage) {
          resolve({
            child,
            port: entry.port!,
            stderr: () => stderr,
            logs: () => logs,
            stop: () => {
              child.kill('SIGTERM');
              return exited;
            },
            exited,
          });
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${stderr}`)));
  });
}
