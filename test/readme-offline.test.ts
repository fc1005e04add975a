import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSigningKey } from '../src/offline/signing-keys.ts';
import { seedLicense, TEST_SECRET, useTestServer } from './support/harness.ts';
import { ROOT, runProcess } from './support/processes.ts';

/**
 * README.md's machine-file verification recipes, extracted from the README itself and run as a
 * reader pastes them: the TypeScript one with node (and type-checked under `strict`), the
 * Python one with the `cryptography` of the SDK check's virtualenv (`.sdk/venv`, installed by
 * `make unit` and `make sdk-python`). They must accept files the server checked out and refuse
 * each kind of bad copy. An edit that breaks a recipe breaks this test.
 */

const server = useTestServer();

function recipe(language: 'ts' | 'python'): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Offline use and signed answers');
  expect(start).toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
  expect(blocks, `one ${language} block in the section`).toHaveLength(1);
  return blocks[0]!;
}

// Each case through the reader's function, one JSON line per case: what it returned, or the
// exception it raised.
const TS_DRIVER = `
import { readFileSync as readCases } from 'node:fs';
for (const c of JSON.parse(readCases(process.argv[2]!, 'utf8'))) {
  try {
    const document = verifyMachineFile(c.file, c.publicKey, c.licenseKey, c.fingerprint);
    console.log(JSON.stringify({ name: c.name, id: document.data.id, expiry: document.meta.expiry }));
  } catch (error) {
    console.log(JSON.stringify({ name: c.name, refused: String(error) }));
  }
}
`;

const PYTHON_DRIVER = `
import json as cases_json, sys as cases_sys
for c in cases_json.load(open(cases_sys.argv[1])):
    try:
        document = verify_machine_file(c["file"], c["publicKey"], c["licenseKey"], c["fingerprint"])
        print(cases_json.dumps({"name": c["name"], "id": document["data"]["id"], "expiry": document["meta"]["expiry"]}))
    except Exception as error:
        print(cases_json.dumps({"name": c["name"], "refused": f"{type(error).__name__}: {error}"}))
`;

const PYTHON = process.env.LICENTRIC_TEST_PYTHON ?? path.join(ROOT, '.sdk', 'venv', 'bin', 'python');

interface Case {
  name: string;
  file: string;
  publicKey: string;
  licenseKey: string;
  fingerprint: string;
}

type Outcome = { name: string; id: string; expiry: string } | { name: string; refused: string };

/**
 * The file with one character of its base64 body changed so that one byte of `enc` changes and
 * the envelope stays valid JSON: the 16th character of the first line holds the low six bits
 * of the envelope's 12th byte, inside `enc` (`{"enc":"` is 8 bytes).
 */
function withOneByteChanged(file: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const lines = file.split('\n');
  const first = lines[1]!;
  lines[1] = first.slice(0, 15) + alphabet[alphabet.indexOf(first[15]!) ^ 1] + first.slice(16);
  return lines.join('\n');
}

describe("the README's machine-file recipes", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'licentric-readme-offline-'));
  const cases: Case[] = [];
  let machineId: string;
  let expiry: string;

  beforeAll(async () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: \`make unit\` or \`make sdk-python\` installs it`).toBe(true);
    // What a real start's migration makes (runtime.ts); the tests' template database has no key.
    await server.orm.em.fork().transactional((em) => ensureSigningKey(TEST_SECRET)(em));
    const { key } = await seedLicense(server);
    const asLicense = { Authorization: `License ${key}` };
    const fingerprint = 'hw-readme-offline';
    const activated = await server.client.POST('/machines', { headers: asLicense, body: { fingerprint } });
    expect(activated.response.status).toBe(201);
    machineId = activated.data!.data.id;

    const keys = await server.client.GET('/signing-keys');
    expect(keys.response.status).toBe(200);
    const published = new Map(keys.data!.data.map((k) => [k.id, k.publicKey]));

    // The recipes read the real clock; the server's clock is set around it.
    const checkOut = async (issued: Date, ttl: number) => {
      server.clock.set(issued);
      const answer = await server.client.POST('/machines/{id}/actions/check-out', {
        headers: { ...asLicense, Accept: 'application/json' },
        params: { path: { id: machineId } },
        body: { ttl },
      });
      expect(answer.response.status).toBe(200);
      const file = answer.data as { data: { certificate: string; keyId: string; expiry: string } };
      const publicKey = published.get(file.data.keyId);
      expect(publicKey).toBeDefined();
      return { certificate: file.data.certificate, publicKey: publicKey!, expiry: file.data.expiry };
    };
    const now = Date.now();
    const genuine = await checkOut(new Date(now), 3600);
    const expired = await checkOut(new Date(now - 2 * 3600_000), 3600);
    const ahead = await checkOut(new Date(now + 3600_000), 3600);
    expiry = genuine.expiry;
    const otherKey = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

    const base = { publicKey: genuine.publicKey, licenseKey: key, fingerprint };
    cases.push(
      { name: 'genuine', file: genuine.certificate, ...base },
      { name: 'one byte changed', file: withOneByteChanged(genuine.certificate), ...base },
      { name: 'another fingerprint', file: genuine.certificate, ...base, fingerprint: 'hw-somewhere-else' },
      { name: 'another license key', file: genuine.certificate, ...base, licenseKey: `${key}X` },
      { name: 'another signing key', file: genuine.certificate, ...base, publicKey: otherKey },
      { name: 'expired', file: expired.certificate, ...base },
      { name: 'issued ahead of the clock', file: ahead.certificate, ...base },
    );
    writeFileSync(path.join(scratch, 'cases.json'), JSON.stringify(cases));
  });

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function expectOutcomes(outcomes: Outcome[], refusals: Record<string, RegExp>) {
    expect(outcomes.map((o) => o.name)).toEqual(cases.map((c) => c.name));
    const [genuine, ...refused] = outcomes;
    expect(genuine).toEqual({ name: 'genuine', id: machineId, expiry });
    for (const outcome of refused) {
      expect(outcome, outcome.name).toEqual({
        name: outcome.name,
        refused: expect.stringMatching(refusals[outcome.name]!),
      });
    }
  }

  it('TypeScript: type-checks under strict, accepts the file, refuses every bad copy', async () => {
    const source = recipe('ts');
    writeFileSync(path.join(scratch, 'recipe.ts'), source);
    const tsc = await runProcess(
      process.execPath,
      [
        path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--target',
        'es2024',
        '--types',
        'node',
        '--typeRoots',
        path.join(ROOT, 'node_modules', '@types'),
        path.join(scratch, 'recipe.ts'),
      ],
      {},
    );
    expect(tsc.code, `${tsc.stdout}${tsc.stderr}`).toBe(0);

    writeFileSync(path.join(scratch, 'run.ts'), source + TS_DRIVER);
    const run = await runProcess(
      process.execPath,
      [path.join(scratch, 'run.ts'), path.join(scratch, 'cases.json')],
      {},
    );
    expect(run.code, run.stderr).toBe(0);
    expectOutcomes(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      {
        'one byte changed': /^Error: not genuine$/,
        'another fingerprint': /unable to authenticate data/,
        'another license key': /unable to authenticate data/,
        'another signing key': /^Error: not genuine$/,
        expired: /^Error: expired at /,
        'issued ahead of the clock': /^Error: issued in the future/,
      },
    );
  }, 60_000);

  it('Python: accepts the file, refuses every bad copy', async () => {
    writeFileSync(path.join(scratch, 'run.py'), recipe('python') + PYTHON_DRIVER);
    const run = await runProcess(PYTHON, [path.join(scratch, 'run.py'), path.join(scratch, 'cases.json')], {});
    expect(run.code, run.stderr).toBe(0);
    expectOutcomes(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      {
        'one byte changed': /^InvalidSignature: $/,
        'another fingerprint': /^InvalidTag: $/,
        'another license key': /^InvalidTag: $/,
        'another signing key': /^InvalidSignature: $/,
        expired: /^ValueError: expired at /,
        'issued ahead of the clock': /^ValueError: issued in the future/,
      },
    );
  }, 60_000);
});
