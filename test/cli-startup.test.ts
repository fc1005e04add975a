import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runProcess } from './support/processes.ts';

const RECORDER = path.join(ROOT, 'test', 'support', 'record-modules.mjs');
const folder = await mkdtemp(path.join(tmpdir(), 'licentric-modules-'));
afterAll(() => rm(folder, { recursive: true, force: true }));

/** The packages of node_modules a Node process running `script args` loaded, by name. */
async function packagesLoaded(script: string, ...args: string[]): Promise<Set<string>> {
  const record = path.join(folder, `${path.basename(script)}-${args.join('-') || 'none'}.txt`);
  const run = await runProcess(process.execPath, ['--import', RECORDER, path.join(ROOT, script), ...args], {
    RECORD_MODULES_TO: record,
  });
  expect(run.code, run.stderr).toBe(0);
  const urls = (await readFile(record, 'utf8')).split('\n');
  return new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
}

/** What only the API server and webhook delivery need: every other command starts without them. */
const SERVER_ONLY = [
  'express',
  'openapi-backend',
  'ajv',
  'rate-limiter-flexible',
  'prom-client',
  'pg-boss',
  '@scalar/api-reference',
];

describe("the CLI's start", { timeout: 60_000 }, () => {
  it('loads the modules its commands import, but not the HTTP stack, the metrics or the webhook queue', async () => {
    // --help stops after every module cli.ts imports is loaded, before any command runs.
    const loaded = await packagesLoaded('src/cli.ts', '--help');
    expect(loaded).toContain('@mikro-orm/core');
    expect(SERVER_ONLY.filter((name) => loaded.has(name))).toEqual([]);
  });

  it('is told apart from the server by the same recording (the check above can fail)', async () => {
    const loaded = await packagesLoaded('src/server.ts');
    expect(loaded).toContain('express');
    expect(loaded).toContain('openapi-backend');
  });
});
