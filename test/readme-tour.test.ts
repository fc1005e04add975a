import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, useTestServer } from './support/harness.ts';
import { ROOT, runProcess, type ServerProcess, startServerProcess } from './support/processes.ts';

/**
 * README.md's tour, extracted from the README itself and run as a reader pastes it: the shell
 * blocks of "A one-minute tour", in order, in a real bash with curl and jq, against `licentric
 * serve` as its own process. An edit that breaks the tour breaks this test.
 */

const database = useTestServer();

function tourScript(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## A one-minute tour');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length).toBeGreaterThan(3);
  return blocks.join('\n');
}

// -e and pipefail: a command that fails, or a jq that finds nothing to parse, stops the tour there.
const bash = (script: string, env: Record<string, string>) =>
  runProcess('bash', ['-euo', 'pipefail', '-c', script], env);

describe("the README's tour", () => {
  let server: ServerProcess;
  const env = () => ({
    DATABASE_URL: database.databaseUrl,
    LICENTRIC_SECRET: TEST_SECRET,
    LICENTRIC_CULL_IN_SERVER: 'false',
  });

  beforeAll(async () => {
    server = await startServerProcess(env());
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('runs as pasted, top to bottom, and does what it says', async () => {
    // What the reader's shell holds at the end, on the last line of output.
    const script = `${tourScript()}\necho\necho "tour-state $POLICY $LICENSE_ID $KEY $MACHINE"\n`;
    const result = await bash(script, {
      ...env(),
      PORT: String(server.port),
      PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
    });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);

    const state = /^tour-state (\S+) (\S+) (\S+) (\S+)$/m.exec(result.stdout);
    expect(state, result.stdout).not.toBeNull();
    const [, policyId, licenseId, key, machineId] = state!;
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(policyId).toMatch(uuid);
    expect(licenseId).toMatch(uuid);
    expect(machineId).toMatch(uuid);
    expect(key).toMatch(/^DSK-(\w{5}-){3}\w{5}$/);

    // Each step answered as its comment says.
    expect(result.stdout).toContain('"code":"VALID"');
    expect(result.stdout).toContain(`"id":"${machineId}","lastHeartbeatAt"`);
    expect(result.stdout).toContain(`"code":"FINGERPRINT_TAKEN"`);
    expect(result.stdout).toContain(`{"data":{"id":"${machineId}","deleted":true}}`);
    expect(result.stdout).toContain(
      `{"data":{"id":"${machineId}","licenseId":"${licenseId}","productId":null,"fingerprint":"hw-a1b2c3d4e5f6"`,
    );

    // And the database agrees: one machine, on the tour's license, deactivated by its owner.
    const rows = await database.sql('select license_id, deactivation_reason from machines where id = $1', [machineId]);
    expect(rows).toEqual([{ license_id: licenseId, deactivation_reason: 'MANUAL' }]);
    const licenses = await database.sql('select policy_id from licenses where id = $1', [licenseId]);
    expect(licenses).toEqual([{ policy_id: policyId }]);
  }, 120_000);
});
