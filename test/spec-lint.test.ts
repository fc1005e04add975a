import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..');
const REDOCLY = path.join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
const CONFIG = path.join(ROOT, 'spec/lint/redocly.yaml');

type Document = { paths: Record<string, Record<string, { description?: string; 'x-required-scopes'?: string[] }>> };

let dir: string;
let published: Document;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'licentric-lint-'));
  published = parse(await readFile(path.join(ROOT, 'generated/openapi.yaml'), 'utf8')) as Document;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The scope rule's findings for the generated document after `change`. */
async function scopeFindings(change: (doc: Document) => void): Promise<string[]> {
  const doc = structuredClone(published);
  change(doc);
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, stringify(doc));
  const output = await promisify(execFile)(
    process.execPath,
    [REDOCLY, 'lint', file, '--config', CONFIG, '--format=stylish'],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  ).then(
    (ok) => ok.stdout + ok.stderr,
    (failed: { stdout: string; stderr: string }) => failed.stdout + failed.stderr,
  );
  return output.split('\n').filter((line) => line.includes('licentric/scopes-stated-once'));
}

describe('the lint rule that keeps the scopes in prose and in x-required-scopes the same', () => {
  it('passes the generated document', async () => {
    expect(await scopeFindings(() => {})).toEqual([]);
  });

  it('fails an operation whose extension and description name different scopes', async () => {
    const findings = await scopeFindings((doc) => {
      doc.paths['/machines']!.get!['x-required-scopes'] = ['machines:write'];
    });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toContain('requires machines:read but x-required-scopes says machines:write');
  });

  it('fails an API-key operation that declares no scope, and a license-only one that declares some', async () => {
    const findings = await scopeFindings((doc) => {
      delete doc.paths['/policies']!.post!['x-required-scopes'];
      doc.paths['/policies']!.post!.description = doc.paths['/policies']!.post!.description!.replace(
        /Requires an API key[^.]*\./,
        '',
      );
      doc.paths['/machines']!.post!['x-required-scopes'] = ['machines:write'];
    });
    expect(findings.some((line) => line.includes('must declare x-required-scopes'))).toBe(true);
    expect(findings.some((line) => line.includes('accepts no API key'))).toBe(true);
  });
});
