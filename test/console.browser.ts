import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../src/http/console.ts';
import { createLogger } from '../src/log.ts';
import { cullPass } from '../src/machines/cull.ts';
import { activate, bearer, licenseAuth, read, seedApiKey, useTestServer } from './support/harness.ts';

/**
 * The support console (GET /console) as a support person uses it: Debian's Chromium (never a
 * browser a test tool downloads) against a live server on its own database, driving the page by
 * roles and labels as a keyboard or screen-reader user finds them. Time moves on the server's
 * clock, never by sleeping. Run by `make console-check` (part of `make test`); a screenshot of
 * each page goes to artifacts/console/.
 */

const server = useTestServer();

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('artifacts', 'console');
const STORAGE_KEY = 'licentric.console.apiKey';

let profile: string;
let context: BrowserContext;
let page: Page;
let admin: string;
let narrow: string;
let policyId: string;
let acme: { id: string; key: string };
let deadMachine: string;
/** Requests that left the server's origin: the console must work on an offline network. */
const foreignRequests: string[] = [];
/** Uncaught errors and console errors (a CSP refusal is one). */
const pageErrors: string[] = [];

beforeAll(async () => {
  admin = await seedApiKey(server, ['admin']);
  narrow = await seedApiKey(server, ['licenses:read', 'machines:read']);
  const auth = bearer(admin);
  const product = await server.client.POST('/products', {
    headers: auth,
    body: { name: 'Desktop Studio', code: 'DESKTOP_STUDIO' },
  });
  expect(product.response.status, JSON.stringify(product.error)).toBe(201);
  const entitlement = await server.client.POST('/entitlements', {
    headers: auth,
    body: { code: 'PRO_EXPORT', name: 'Export to PDF' },
  });
  expect(entitlement.response.status, JSON.stringify(entitlement.error)).toBe(201);
  const policy = await server.client.POST('/policies', {
    headers: auth,
    body: {
      productId: product.data!.data.id,
      name: 'Desktop Pro',
      maxMachines: 3,
      keyPrefix: 'DSK',
      requireHeartbeat: true,
      heartbeatDuration: 600,
      heartbeatCullStrategy: 'KEEP_DEAD',
      duration: 30 * 86_400,
    },
  });
  expect(policy.response.status, JSON.stringify(policy.error)).toBe(201);
  policyId = policy.data!.data.id;
  const license = await server.client.POST('/licenses', {
    headers: auth,
    body: { policyId, name: 'Acme Corp', metadata: { email: 'ops@acme.example' } },
  });
  expect(license.response.status, JSON.stringify(license.error)).toBe(201);
  acme = { id: license.data!.data.id, key: license.data!.data.key };
  const attached = await server.client.POST('/licenses/{id}/entitlements', {
    headers: auth,
    params: { path: { id: acme.id } },
    body: { entitlements: ['PRO_EXPORT'] },
  });
  expect(attached.response.status, JSON.stringify(attached.error)).toBe(200);
  // One machine whose heartbeat stopped 11 minutes ago (its window is 10), one that just started.
  deadMachine = (await activate(server, acme.key, { name: 'build-01', platform: 'linux' })).id;
  server.clock.advance(11 * 60_000);
  // The worker's pass at that instant records build-01's death, which puts it in the review queue.
  const culled = await cullPass(server.orm.em.fork(), server.clock, createLogger('silent'));
  expect(culled.markedDead).toBe(1);
  await activate(server, acme.key, { name: 'laptop-02', platform: 'macos' });
  // More licenses than one page holds, all matching one search.
  for (let i = 1; i <= 27; i++) {
    const made = await server.client.POST('/licenses', {
      headers: auth,
      body: { policyId, name: `Globex ${String(i).padStart(2, '0')}` },
    });
    expect(made.response.status).toBe(201);
  }

  await mkdir(ARTIFACTS, { recursive: true });
  profile = await mkdtemp(path.join(tmpdir(), 'licentric-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    // As for /docs: no background calls to Google's hosts, which a closed network refuses.
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
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseUrl });
  page = context.pages()[0] ?? (await context.newPage());
  // Every wait is for a page answering a local server: a missing control fails in seconds.
  page.setDefaultTimeout(10_000);
  const origin = new URL(server.baseUrl).origin;
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin)
      foreignRequests.push(url);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // A refused API call (a wrong key, a narrow key, a past expiry: each asked for by a test below)
    // is logged by the browser as a failed resource; the page shows the refusal itself.
    if (message.type() === 'error' && !/the server responded with a status of (401|403|404|422)/.test(message.text()))
      pageErrors.push(`console: ${message.text()}`);
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** axe-core on the page as it is now: no serious or critical violation of WCAG 2.1 A/AA. */
async function expectAccessible(name: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const serious = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${name}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(serious).toEqual([]);
}

async function shoot(name: string) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function signIn(token: string) {
  await page.goto(`${server.baseUrl}/console`);
  await page.getByLabel('API key').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Answers the confirmation dialog an action opens with its confirming button. */
async function confirm(button: string) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: button }).click();
  await dialog.waitFor({ state: 'hidden' });
}

const heading = () => page.getByRole('heading', { level: 1 });

describe('GET /console', () => {
  it('is served by the server with a strict Content-Security-Policy', async () => {
    const response = await fetch(`${server.baseUrl}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const html = await response.text();
    // Only this server's files: no CDN, no inline script or style.
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.filter((s) => !s.startsWith('/console/assets/') && s !== 'data:,')).toEqual([]);
    expect(html).not.toMatch(/<script>|<style>|style="/);
    for (const asset of sources.filter((s) => s.startsWith('/console/assets/'))) {
      const answer = await fetch(`${server.baseUrl}${asset}`);
      expect(answer.status, asset).toBe(200);
      expect(answer.headers.get('content-security-policy'), asset).toBe(CONSOLE_CSP);
    }
  });

  it('signs in with an API key kept in sessionStorage only, and shows its scopes', async () => {
    await page.goto(`${server.baseUrl}/console`);
    await heading().filter({ hasText: 'Licentric console' }).waitFor();
    await expectAccessible('sign-in');
    await shoot('sign-in');

    // A wrong key: the problem's detail, and nothing stored.
    await page.getByLabel('API key').fill('lct_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/Refused/);
    expect(await page.evaluate((k) => sessionStorage.getItem(k), STORAGE_KEY)).toBeNull();

    await page.getByLabel('API key').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.getByRole('list', { name: 'Scopes of this key' }).innerText()).toBe('admin');
    expect(await page.evaluate((k) => sessionStorage.getItem(k), STORAGE_KEY)).toBe(admin);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(admin);
    expect(page.url()).not.toContain(admin);
    const cookies = await context.cookies();
    expect(cookies).toEqual([]);
  });

  it('finds a license by name and by metadata value, a page at a time', async () => {
    await page.goto(`${server.baseUrl}/console#/licenses`);
    await heading().filter({ hasText: 'Licenses' }).waitFor();
    const search = page.getByRole('searchbox', { name: 'Find a license' });
    await search.fill('globex');
    await page.getByRole('button', { name: 'Search' }).click();
    const rows = page.getByRole('table').getByRole('row');
    // The unfiltered list shows 25 rows too (Acme Corp first): wait for the search's own page.
    const table = page.getByRole('table');
    await expect
      .poll(async () => [await rows.count(), (await table.innerText()).includes('Acme Corp')])
      .toEqual([26, false]); // a header and 25 licenses, all Globex
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => rows.count()).toBe(3);
    expect(await page.getByRole('table').innerText()).toContain('Globex 27');
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'First page' }).click();
    await expect.poll(() => rows.count()).toBe(26);

    await search.fill('ops@acme.example');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBe(2);
    expect(await page.getByRole('link', { name: 'Acme Corp' }).count()).toBe(1);
    await expectAccessible('licenses');
    await shoot('licenses');
  });

  it('opens a license from its full key: status, policy, expiry, machines with their heartbeat', async () => {
    await page.goto(`${server.baseUrl}/console#/licenses`);
    await page.getByRole('searchbox', { name: 'Find a license' }).fill(acme.key.toLowerCase());
    await page.getByRole('button', { name: 'Search' }).click();
    await heading().filter({ hasText: 'Acme Corp' }).waitFor();
    // The key went in a request body, never into the address.
    expect(page.url()).toBe(`${server.baseUrl}/console#/licenses/${acme.id}`);
    // The policy, product and entitlements arrive each with its own call.
    const region = page.getByRole('region', { name: 'Overview' });
    await expect.poll(() => region.innerText()).toMatch(/Desktop Pro[\s\S]*Desktop Studio[\s\S]*PRO_EXPORT/);
    const overview = await region.innerText();
    expect(overview).toMatch(/Status\s+● ACTIVE/);
    expect(overview).toContain('Desktop Pro');
    expect(overview).toContain('dead machines kept for review');
    expect(overview).toMatch(/Machines\s+2 active/);
    expect(overview).toMatch(/Product\s+Desktop Studio/);
    expect(overview).toMatch(/Entitlements\s+PRO_EXPORT \(from license\)/);
    const machines = page.getByRole('region', { name: 'Machines' });
    const build = machines.getByRole('row').filter({ hasText: 'build-01' });
    const laptop = machines.getByRole('row').filter({ hasText: 'laptop-02' });
    expect(await build.innerText()).toMatch(/DEAD[\s\S]*2026-03-01 14:00 UTC/);
    expect(await laptop.innerText()).toMatch(/ALIVE[\s\S]*2026-03-01 14:11 UTC/);
    // The event log of the license, newest first.
    const events = await page.getByRole('list', { name: 'Events of this license' }).innerText();
    expect(events.indexOf('machine.activated')).toBeLessThan(events.indexOf('license.created'));
    await expectAccessible('license');
    await shoot('license');
  });

  it('deactivates a dead machine from the review queue in one click, and it leaves the queue', async () => {
    await page.getByRole('link', { name: 'Review queue' }).click();
    await heading().filter({ hasText: 'Review queue' }).waitFor();
    await expect.poll(() => page.getByText('1 machine waiting').count()).toBe(1);
    const row = page.getByRole('row').filter({ hasText: 'build-01' });
    expect(await row.innerText()).toContain('DEAD');
    await expectAccessible('review-queue');
    await shoot('review-queue');

    await row.getByRole('button', { name: 'Deactivate build-01' }).click();
    await expect.poll(() => page.getByText('0 machines waiting').count()).toBe(1);
    expect(await page.getByRole('status').first().innerText()).toContain('build-01 is deactivated');
    expect(await page.getByRole('row').filter({ hasText: 'build-01' }).count()).toBe(0);
    const machine = await read(server, bearer(admin), '/machines/{id}', deadMachine);
    expect(machine.deletedAt).not.toBeNull();
    expect(machine.deactivationReason).toBe('MANUAL');
  });

  it('suspends and reinstates a license after a confirmation, and shows a refusal’s detail', async () => {
    await page.goto(`${server.baseUrl}/console#/licenses/${acme.id}`);
    await heading().filter({ hasText: 'Acme Corp' }).waitFor();
    const status = () => page.getByRole('region', { name: 'Overview' }).innerText();

    // Cancelling the dialog does nothing.
    await page.getByRole('button', { name: 'Suspend', exact: true }).click();
    await confirm('Cancel');
    expect(await status()).toMatch(/ACTIVE/);

    await page.getByRole('button', { name: 'Suspend', exact: true }).click();
    await confirm('Suspend license');
    await expect.poll(status).toMatch(/⏸ SUSPENDED/);
    expect((await read(server, bearer(admin), '/licenses/{id}', acme.id)).status).toBe('SUSPENDED');
    await shoot('license-suspended');

    await page.getByRole('button', { name: 'Reinstate', exact: true }).click();
    await confirm('Reinstate license');
    await expect.poll(status).toMatch(/● ACTIVE/);
    expect((await read(server, bearer(admin), '/licenses/{id}', acme.id)).status).toBe('ACTIVE');

    // Renewing extends the expiry by the policy's 30 days.
    const before = (await read(server, bearer(admin), '/licenses/{id}', acme.id)).expiresAt;
    await page.getByRole('button', { name: 'Renew', exact: true }).click();
    await confirm('Renew license');
    await expect.poll(() => page.getByRole('status').first().innerText()).toMatch(/Renewed: it now expires/);
    const renewed = await read(server, bearer(admin), '/licenses/{id}', acme.id);
    const from = before ? new Date(before) : server.clock.now();
    expect(renewed.expiresAt).toBe(new Date(from.getTime() + 30 * 86_400_000).toISOString());

    // An expiry in the past is the server's to refuse: the page shows its detail.
    await page.getByLabel('New expiry (UTC)').fill('2026-01-01T00:00');
    await page.getByRole('button', { name: 'Set expiry', exact: true }).click();
    await confirm('Set expiry');
    const alert = await page.getByRole('alert').innerText();
    // The problem's detail as the server wrote it, and its code.
    expect(alert).toContain('The expiry 2026-01-01T00:00:00.000Z has passed');
    expect(alert).toContain('EXPIRES_IN_PAST');
    expect((await read(server, bearer(admin), '/licenses/{id}', acme.id)).expiresAt).toBe(renewed.expiresAt);
    await page.getByLabel('New expiry (UTC)').fill('2027-06-30T12:00');
    await page.getByRole('button', { name: 'Set expiry', exact: true }).click();
    await confirm('Set expiry');
    await expect.poll(() => page.getByRole('status').first().innerText()).toContain('2027-06-30 12:00 UTC');
    expect((await read(server, bearer(admin), '/licenses/{id}', acme.id)).expiresAt).toBe('2027-06-30T12:00:00.000Z');
  });

  it('downloads a machine file, and shows the machine’s events', async () => {
    const laptop = page.getByRole('row').filter({ hasText: 'laptop-02' });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      laptop.getByRole('button', { name: 'Machine file of laptop-02' }).click(),
    ]);
    const file = await download.path();
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(file, 'utf8')).toMatch(/^-----BEGIN MACHINE FILE-----/);
    expect(download.suggestedFilename()).toMatch(/\.lic$/);
    await laptop.getByRole('button', { name: 'Events of laptop-02' }).click();
    const events = page.getByRole('list', { name: 'Events of this machine' });
    await expect.poll(() => events.innerText()).toMatch(/machine\.checked-out[\s\S]*machine\.activated/);
    expect(await events.innerText()).not.toContain('build-01');
  });

  it('creates a license and shows its key once, with a copy button', async () => {
    await page.goto(`${server.baseUrl}/console#/licenses`);
    await page.getByRole('link', { name: 'New license' }).click();
    await heading().filter({ hasText: 'New license' }).waitFor();
    await page.getByLabel('Policy').selectOption({ label: 'Desktop Pro' });
    await page.getByLabel('Name').fill('Initech');
    await page.getByLabel('Customer email').fill('it@initech.example');
    await expectAccessible('new-license');
    await page.getByRole('button', { name: 'Create license' }).click();
    const shown = page.getByRole('textbox', { name: 'License key' });
    await shown.waitFor();
    const key = await shown.inputValue();
    expect(key).toMatch(/^DSK-[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(key);
    await shoot('license-created');
    // The key is a real one: the license validates with it.
    const validation = await server.client.POST('/licenses/actions/validate', { headers: licenseAuth(key), body: {} });
    expect(validation.data?.data.license?.name).toBe('Initech');
    // And it is not shown again: the license page has only its hint.
    await page.getByRole('link', { name: 'Initech' }).click();
    await heading().filter({ hasText: 'Initech' }).waitFor();
    expect(await page.locator('body').innerText()).not.toContain(key);
    expect(await page.locator('input[data-secret]').count()).toBe(0);
  });

  it('lists, creates and edits policies', async () => {
    await page.getByRole('link', { name: 'Policies' }).click();
    await heading().filter({ hasText: 'Policies' }).waitFor();
    await page.getByRole('button', { name: 'New policy' }).click();
    const form = page.getByRole('region', { name: 'New policy' });
    await form.getByLabel('Name').fill('Trial');
    await form.getByLabel('License key prefix').fill('TRY');
    await form.getByLabel('Most machines per license').fill('1');
    await form.getByLabel('License duration (days)').fill('14');
    await expectAccessible('policies');
    await form.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('link', { name: 'Trial' }).waitFor();
    await shoot('policies');

    await page.getByRole('link', { name: 'Trial' }).click();
    await heading().filter({ hasText: 'Policy Trial' }).waitFor();
    await page.getByLabel('Most machines per license').fill('2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByRole('status').first().innerText()).toContain('Saved');
    await expectAccessible('policy');
    await shoot('policy');
    const { data } = await server.client.GET('/policies', { headers: bearer(admin), params: { query: {} } });
    const trial = data!.data.find((p) => p.name === 'Trial')!;
    expect(trial).toMatchObject({ keyPrefix: 'TRY', maxMachines: 2, duration: 14 * 86_400 });
  });

  it('creates an API key, shows its token once, and revokes it', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await heading().filter({ hasText: 'API keys' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('billing-backend');
    await page.getByRole('checkbox', { name: 'licenses:write' }).check();
    await page.getByRole('button', { name: 'Create API key' }).click();
    const token = await page.getByRole('textbox', { name: 'Token of billing-backend' }).inputValue();
    expect((await fetch(`${server.apiUrl}/api-keys/current`, { headers: bearer(token) })).status).toBe(200);
    await expectAccessible('api-keys');
    await shoot('api-keys');

    await page.getByRole('button', { name: 'Revoke billing-backend' }).click();
    await confirm('Revoke API key');
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'billing-backend' }).count()).toBe(0);
    expect((await fetch(`${server.apiUrl}/api-keys/current`, { headers: bearer(token) })).status).toBe(401);
  });

  it('is readable at a phone’s width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.goto(`${server.baseUrl}/console#/licenses/${acme.id}`);
      await heading().filter({ hasText: 'Acme Corp' }).waitFor();
      await page.getByRole('row').filter({ hasText: 'laptop-02' }).waitFor();
      // Nothing wider than the screen: no sideways scrolling to reach a button.
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      await expectAccessible('license-phone');
      await shoot('license-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('works by keyboard alone, with the focus visible', async () => {
    await page.goto(`${server.baseUrl}/console#/licenses`);
    // A fresh load of the page, on which focus starts at the top.
    await page.reload();
    await heading().filter({ hasText: 'Licenses' }).waitFor();
    await page.keyboard.press('Tab');
    const skip = await page.evaluate('document.activeElement?.textContent');
    expect(skip).toBe('Skip to content');
    // Tab to the search box, type, Enter: the result is a link reached by Tab, opened by Enter.
    for (let i = 0; i < 20 && (await page.evaluate("document.activeElement?.getAttribute('type')")) !== 'search'; i++)
      await page.keyboard.press('Tab');
    const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
    expect(outline).toBe('solid');
    await page.keyboard.type('Acme');
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: 'Acme Corp' }).waitFor();
    for (let i = 0; i < 20 && (await page.evaluate('document.activeElement?.textContent')) !== 'Acme Corp'; i++)
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await heading().filter({ hasText: 'Acme Corp' }).waitFor();
    // The dialog takes focus, and Escape closes it without acting.
    await page.getByRole('button', { name: 'Suspend', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Cancel');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    expect((await read(server, bearer(admin), '/licenses/{id}', acme.id)).status).toBe('ACTIVE');
  });

  it('signs out, and the key is gone from storage', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate((k) => sessionStorage.getItem(k), STORAGE_KEY)).toBeNull();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // A reload finds nothing to sign in with.
    await page.reload();
    await page.getByLabel('API key').waitFor();
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  });

  it('shows a narrow key only what it may do, and the API refuses the rest', async () => {
    await signIn(narrow);
    expect(await page.getByRole('list', { name: 'Scopes of this key' }).innerText()).toBe(
      'licenses:read\nmachines:read',
    );
    const sections = await page.getByRole('navigation', { name: 'Sections' }).innerText();
    expect(sections).toContain('Licenses');
    expect(sections).not.toContain('API keys');
    expect(sections).not.toContain('Policies');
    expect(await page.getByRole('link', { name: 'New license' }).count()).toBe(0);

    await page.goto(`${server.baseUrl}/console#/licenses/${acme.id}`);
    await heading().filter({ hasText: 'Acme Corp' }).waitFor();
    for (const action of ['Suspend', 'Renew', 'Set expiry'])
      expect(await page.getByRole('button', { name: action, exact: true }).isDisabled(), action).toBe(true);
    expect(await page.getByRole('button', { name: 'Deactivate laptop-02' }).isDisabled()).toBe(true);
    expect(await page.getByText('needs licenses:write, which this key does not hold').count()).toBe(1);
    expect(await page.getByText('Deactivating a machine needs machines:write').count()).toBe(1);
    // Reading the license and checking out a machine file are within its scopes.
    expect(await page.getByRole('button', { name: 'Machine file of laptop-02' }).isEnabled()).toBe(true);
    await expectAccessible('license-narrow');
    await shoot('license-narrow');

    // A page it may not read: the server's refusal, as the page shows it.
    await page.goto(`${server.baseUrl}/console#/api-keys`);
    await expect.poll(() => page.getByRole('alert').innerText()).toContain('INSUFFICIENT_SCOPE');
    // And what the console hides, the API refuses to this key.
    const suspend = await server.client.POST('/licenses/{id}/actions/suspend', {
      headers: bearer(narrow),
      params: { path: { id: acme.id } },
    });
    expect(suspend.response.status).toBe(403);
    const machines = await server.client.GET('/machines', {
      headers: bearer(narrow),
      params: { query: { licenseId: acme.id } },
    });
    const laptop = machines.data!.data[0]!;
    const deactivate = await server.client.DELETE('/machines/{id}', {
      headers: bearer(narrow),
      params: { path: { id: laptop.id } },
    });
    expect(deactivate.response.status).toBe(403);
    await page.getByRole('button', { name: 'Sign out' }).click();
  });

  it('forgets a key the server stops accepting', async () => {
    const doomed = await seedApiKey(server, ['licenses:read']);
    await signIn(doomed);
    const current = await server.client.GET('/api-keys/current', { headers: bearer(doomed) });
    const id = current.data!.data.id;
    const revoked = await server.client.DELETE('/api-keys/{id}', { headers: bearer(admin), params: { path: { id } } });
    expect(revoked.response.status).toBe(200);
    await page.getByRole('searchbox', { name: 'Find a license' }).fill('acme');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.getByRole('alert').innerText()).toContain('Check the key and sign in again');
    expect(await page.evaluate((k) => sessionStorage.getItem(k), STORAGE_KEY)).toBeNull();
  });

  it('loads nothing from outside the server and raises no errors', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
