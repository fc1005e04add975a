import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from './support/harness.ts';

/**
 * The published reference, as a partner's browser shows it: Debian's Chromium (never a browser
 * that a test tool downloads) opens /docs of a live server and must find every operation of the
 * live /openapi.json, so an operation added to the spec is checked here without touching this file.
 * Run by `make docs-check` (vitest.browser.config.ts); screenshots go to artifacts/docs/.
 */

const server = useTestServer();

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('artifacts', 'docs');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

interface Operation {
  operationId: string;
  method: string;
  path: string;
  summary: string;
  statuses: string[];
}

let profile: string;
let context: BrowserContext;
let page: Page;
let operations: Operation[];
/** Requests that left the server's origin: the page must work on an offline network. */
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
    paths: Record<string, Partial<Record<(typeof METHODS)[number], { operationId: string; summary?: string; responses: Record<string, unknown> }>>>;
  };
  operations = Object.entries(spec.paths).flatMap(([route, item]) =>
    METHODS.flatMap((method) => {
      const op = item[method];
      return op ? [{ operationId: op.operationId, method, path: route, summary: op.summary ?? '', statuses: Object.keys(op.responses) }] : [];
    }),
  );

  await mkdir(ARTIFACTS, { recursive: true });
  profile = await mkdtemp(path.join(tmpdir(), 'licentric-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    // Without the background-networking flags Chromium dials Google's hosts at start, which a
    // closed network refuses; none of them changes how the page renders.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  const origin = new URL(server.baseUrl).origin;
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin) foreignRequests.push(url);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()} (${message.location().url})`);
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

describe('GET /docs in Chromium', () => {
  it('renders the reference of the live spec', async () => {
    expect(operations.length).toBeGreaterThan(0);
    const response = await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.getByRole('heading', { name: 'Licentric API', exact: true }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'reference.png') });
  }, 60_000);

  it('shows every operation of /openapi.json by its summary, with every declared status', async () => {
    const missing: string[] = [];
    for (const op of operations) {
      expect(op.summary, `${op.operationId} has a summary`).not.toBe('');
      // The sidebar lists every operation; following it brings the operation's section into view.
      const entry = page.locator('a[href^="#"]').filter({ has: page.getByText(op.summary, { exact: true }) });
      if ((await entry.count()) === 0) {
        missing.push(`${op.operationId}: no sidebar entry "${op.summary}"`);
        continue;
      }
      await entry.first().click();
      const section = page.locator('section').filter({ has: page.getByRole('heading', { name: op.summary, exact: true }) }).last();
      try {
        await section.waitFor({ state: 'visible', timeout: 15_000 });
      } catch {
        missing.push(`${op.operationId}: no section headed "${op.summary}"`);
        continue;
      }
      const text = await section.innerText();
      if (!text.includes(op.path)) missing.push(`${op.operationId}: section does not show ${op.path}`);
      if (text.includes('Basic ')) missing.push(`${op.operationId}: the example request uses Basic auth, which no operation accepts`);
      for (const status of op.statuses) {
        if (!text.includes(status)) missing.push(`${op.operationId}: section does not show response ${status}`);
      }
      await section.screenshot({ path: path.join(ARTIFACTS, `${op.operationId}.png`) });
    }
    expect(missing).toEqual([]);
  }, 120_000);

  it('loads nothing from outside the server and raises no errors', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('GET /', () => {
  it('points a program at the reference and the spec', async () => {
    const response = await fetch(`${server.baseUrl}/`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { links: Record<string, string> };
    expect(body.links).toMatchObject({ docs: '/docs', openapiJson: '/openapi.json', openapiYaml: '/openapi.yaml', api: '/api/v1' });
  });

  it('points a browser at the reference', async () => {
    const response = await fetch(`${server.baseUrl}/`, { headers: { Accept: 'text/html' } });
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toContain('href="/docs"');
  });
});
