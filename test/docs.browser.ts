import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from './support/harness.ts';

/**
 * The published reference, as a partner's browser shows it: Debian's Chromium (never a browser
 * that a test tool downloads) opens /docs of a live server and must find every operation of the
 * live /openapi.json, so an operation added to the spec is checked here without touching this file.
 * Run by `make docs-check` (vitest.browser.config.ts); screenshots of the reference, the landing
 * page and every section that fails a check go to artifacts/docs/.
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
  /** The security schemes the operation accepts, first the one its snippets should use. */
  schemes: string[];
}

/** How many operations the spec declares: the walk over them gets a budget per operation. */
const DECLARED_OPERATIONS = Object.values(
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../generated/openapi.json'), 'utf8')).paths as Record<
    string,
    Record<string, unknown>
  >,
).reduce((n, item) => n + Object.keys(item).filter((key) => (METHODS as readonly string[]).includes(key)).length, 0);

let profile: string;
let context: BrowserContext;
let page: Page;
let operations: Operation[];
/** Requests that left the server's origin: the page must work on an offline network. */
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
    security?: Record<string, string[]>[];
    paths: Record<
      string,
      Partial<
        Record<
          (typeof METHODS)[number],
          {
            operationId: string;
            summary?: string;
            responses: Record<string, unknown>;
            security?: Record<string, string[]>[];
          }
        >
      >
    >;
  };
  operations = Object.entries(spec.paths).flatMap(([route, item]) =>
    METHODS.flatMap((method) => {
      const op = item[method];
      if (!op) return [];
      const schemes = (op.security ?? spec.security ?? []).flatMap((requirement) => Object.keys(requirement));
      return [
        {
          operationId: op.operationId,
          method,
          path: route,
          summary: op.summary ?? '',
          statuses: Object.keys(op.responses),
          schemes,
        },
      ];
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
    if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin)
      foreignRequests.push(url);
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

/** Brings an operation's section into view through the sidebar, as a reader would. */
async function openSection(op: Operation) {
  if (new URL(page.url()).pathname !== '/docs') {
    await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
    await page.getByRole('heading', { name: 'Licentric API', exact: true }).first().waitFor({ timeout: 30_000 });
  }
  await page
    .locator('a[href^="#"]')
    .filter({ has: page.getByText(op.summary, { exact: true }) })
    .first()
    .click();
  const section = page
    .locator('section')
    .filter({ has: page.getByRole('heading', { name: op.summary, exact: true }) })
    .last();
  await section.waitFor({ state: 'visible', timeout: 15_000 });
  return section;
}

/** What the walk over every operation found: each entry names the operation and what is wrong. */
interface Walk {
  missing: string[];
  overflowing: string[];
}
let walk: Promise<Walk> | undefined;

/**
 * Opens every operation's section once, through the sidebar as a reader would, and reads from it
 * what two checks need: that it shows the operation (path, statuses, no Basic auth), and that no
 * code panel is wider than itself, which hides the end of a token or a header. The section of an
 * operation that fails either is screenshotted into artifacts/docs/, to see what went wrong.
 */
function walkOperations(): Promise<Walk> {
  walk ??= (async () => {
    const missing: string[] = [];
    const overflowing: string[] = [];
    if (new URL(page.url()).pathname !== '/docs') {
      await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
      await page.getByRole('heading', { name: 'Licentric API', exact: true }).first().waitFor({ timeout: 30_000 });
    }
    for (const op of operations) {
      expect(op.summary, `${op.operationId} has a summary`).not.toBe('');
      const found = missing.length + overflowing.length;
      // The sidebar lists every operation; following it brings the operation's section into view.
      const entry = page.locator('a[href^="#"]').filter({ has: page.getByText(op.summary, { exact: true }) });
      if ((await entry.count()) === 0) {
        missing.push(`${op.operationId}: no sidebar entry "${op.summary}"`);
        await page.screenshot({ path: path.join(ARTIFACTS, `${op.operationId}.png`) });
        continue;
      }
      await entry.first().click();
      const section = page
        .locator('section')
        .filter({ has: page.getByRole('heading', { name: op.summary, exact: true }) })
        .last();
      try {
        await section.waitFor({ state: 'visible', timeout: 15_000 });
      } catch {
        missing.push(`${op.operationId}: no section headed "${op.summary}"`);
        await page.screenshot({ path: path.join(ARTIFACTS, `${op.operationId}.png`) });
        continue;
      }
      const text = await section.innerText();
      if (!text.includes(op.path)) missing.push(`${op.operationId}: section does not show ${op.path}`);
      if (text.includes('Basic '))
        missing.push(`${op.operationId}: the example request uses Basic auth, which no operation accepts`);
      for (const status of op.statuses) {
        if (!text.includes(status)) missing.push(`${op.operationId}: section does not show response ${status}`);
      }
      const hidden = await section
        .locator('.scalar-code-block [role="group"]')
        .evaluateAll((panels) =>
          panels
            .filter((panel) => panel.scrollWidth > panel.clientWidth + 1)
            .map((panel) => panel.textContent?.slice(0, 60) ?? ''),
        );
      overflowing.push(...hidden.map((text) => `${op.operationId}: ${text}`));
      if (missing.length + overflowing.length > found)
        await section.screenshot({ path: path.join(ARTIFACTS, `${op.operationId}.png`) });
    }
    return { missing, overflowing };
  })();
  return walk;
}

describe('GET /docs in Chromium', () => {
  it('renders the reference of the live spec', async () => {
    expect(operations.length).toBeGreaterThan(0);
    const response = await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    await expect
      .poll(() => page.getByRole('heading', { name: 'Licentric API', exact: true }).count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'reference.png') });
  }, 60_000);

  it(
    'shows every operation of /openapi.json by its summary, with every declared status',
    async () => {
      expect((await walkOperations()).missing).toEqual([]);
    },
    // A budget per operation: each is opened and read in turn, and the spec keeps growing.
    DECLARED_OPERATIONS * 6_000,
  );

  it('sends Authorization: License <key> in every client snippet of every License operation', async () => {
    const licenseOperations = operations.filter((op) => op.schemes[0] === 'License');
    expect(licenseOperations.map((op) => op.operationId).sort()).toEqual([
      'activateMachine',
      'checkOutLicense',
      'checkOutMachine',
      'deactivateMachine',
      'pingMachineHeartbeat',
      'processHeartbeat',
      'releaseProcess',
      'spawnProcess',
      'validateLicense',
    ]);
    // A fresh page, on which only the sections below get drawn: the language picked is the
    // reference's, so every section drawn so far would draw its sample again on each pick.
    await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
    await page.getByRole('heading', { name: 'Licentric API', exact: true }).first().waitFor({ timeout: 30_000 });
    // Every section drawn, and the languages each one offers.
    const sections = new Map<string, Locator>();
    const offeredBy = new Map<string, Operation[]>();
    for (const op of licenseOperations) {
      const section = await openSection(op);
      sections.set(op.operationId, section);
      await section.getByTestId('client-picker').first().click();
      const clients = await page
        .getByRole('listbox')
        .getByRole('option')
        .evaluateAll((items) => items.map((item) => item.id.slice(item.id.lastIndexOf('-') + 1)));
      await page.keyboard.press('Escape');
      // Every language the reference offers, e.g. shell/curl, python/requests, js/fetch, go/native.
      expect(clients.length, op.operationId).toBeGreaterThan(10);
      for (const client of clients) offeredBy.set(client, [...(offeredBy.get(client) ?? []), op]);
    }
    // The language is the reference's, not a section's: picking it in one section redraws the
    // sample of every section that offers it. So each language is picked once and then read in
    // every License section, which checks the same (operation, language) pairs as picking it in
    // each section would.
    const wrong: string[] = [];
    const titles = new Set<string>();
    let clientsChecked = 0;
    const pick = async (client: string, [first, ...others]: Operation[]) => {
      const ops = [first!, ...others];
      const picker = sections.get(first!.operationId)!.getByTestId('client-picker').first();
      await picker.click();
      await page.locator(`[role="option"][id$="-${client}"]`).click();
      const samples = ops.map((op) => sections.get(op.operationId)!.locator('[aria-label^="Code sample:"]').first());
      // Read only once every sample shows the language just picked: its title, which no earlier
      // language had (so a sample still showing the previous one is never read as this one's).
      let title = '';
      await expect
        .poll(
          async () => {
            title = ((await picker.getAttribute('aria-label')) ?? '').replace(/^[^:]*:\s*/, '');
            const labels = await Promise.all(samples.map((sample) => sample.getAttribute('aria-label')));
            return !titles.has(title) && labels.every((label) => label === `Code sample: ${title}`);
          },
          { timeout: 15_000, message: `every License section shows ${client}, a language not seen before` },
        )
        .toBe(true);
      titles.add(title);
      return ops.map((op, i) => ({ op, sample: samples[i]! }));
    };
    for (const [client, ops] of offeredBy) {
      for (const { op, sample } of await pick(client, ops)) {
        const code = await sample.innerText();
        // The header in whatever syntax the language writes it (`'Authorization: License …'`,
        // `setValue("License …", forHTTPHeaderField: "Authorization")`, C#'s
        // `AuthenticationHeaderValue("License", "…")`): the header's name, and the scheme then the key.
        if (!/Authorization/.test(code) || !/\bLicense["',\s]{0,4}YOUR_LICENSE_KEY/.test(code)) {
          wrong.push(
            `${op.operationId} / ${client}: ${
              code
                .split('\n')
                .find((line) => /authorization/i.test(line))
                ?.trim() ?? 'no Authorization header'
            }`,
          );
        }
        clientsChecked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(clientsChecked).toBeGreaterThan(40);
    // Back to the reference's first language, curl, for whatever a reader (or a test) opens next.
    titles.clear();
    await pick('shell/curl', offeredBy.get('shell/curl') ?? licenseOperations);
  }, 240_000);

  it(
    'wraps long values (keys, tokens, ids) inside their panels',
    async () => {
      expect((await walkOperations()).overflowing).toEqual([]);
    },
    DECLARED_OPERATIONS * 6_000,
  );

  it('loads nothing from outside the server and raises no errors', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('GET / and GET /api/v1', () => {
  it('points a program at the reference and the spec', async () => {
    const response = await fetch(`${server.baseUrl}/`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { name: string; version: string; links: Record<string, string> };
    expect(body).toMatchObject({ name: 'Licentric API', version: '1.0.0' });
    expect(body.links).toEqual({
      docs: '/docs',
      console: '/console',
      openapiJson: '/openapi.json',
      openapiYaml: '/openapi.yaml',
      api: '/api/v1',
      health: '/healthz',
      ready: '/readyz',
    });
    // Every link leads somewhere: no 404 behind any of them.
    for (const href of Object.values(body.links))
      expect((await fetch(`${server.baseUrl}${href}`)).status, href).toBe(200);
  });

  it('answers the API base itself with the same links', async () => {
    for (const url of [server.apiUrl, `${server.apiUrl}/`]) {
      const response = await fetch(url);
      expect(response.status, url).toBe(200);
      expect(((await response.json()) as { links: Record<string, string> }).links).toMatchObject({
        docs: '/docs',
        api: '/api/v1',
      });
    }
  });

  it('shows a browser a landing page with name, version and labelled links', async () => {
    await page.goto(`${server.baseUrl}/`, { waitUntil: 'load' });
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toMatch(/^Licentric API\s*1\.0\.0$/);
    for (const [label, href] of [
      ['API reference', '/docs'],
      ['Support console', '/console'],
      ['OpenAPI document (JSON)', '/openapi.json'],
      ['OpenAPI document (YAML)', '/openapi.yaml'],
      ['API base', '/api/v1'],
      ['Liveness', '/healthz'],
    ] as const) {
      expect(await page.getByRole('link', { name: label, exact: true }).getAttribute('href'), label).toBe(href);
    }
    // No internal names such as "openapiJson" on the page.
    expect(await page.locator('body').innerText()).not.toMatch(/openapiJson|openapiYaml/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'landing.png') });
  });
});
