import { defineConfig } from 'vitest/config';

/**
 * The browser checks (`make docs-check`, `make console-check`, each naming its file): kept out of
 * the default `*.test.ts` run because they need Debian's Chromium, which the Makefile installs
 * first. Same database setup as the rest.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.browser.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'reports/vitest-browser.xml' },
  },
});
