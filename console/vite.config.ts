import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const ROOT = import.meta.dirname;
const VIRTUAL = 'virtual:operation-scopes';

/**
 * `virtual:operation-scopes`: each operationId and the scopes it requires, read from the spec at
 * build time (`x-required-scopes`), so what the console hides for a key is what the server
 * refuses, and a scope change in spec/ reaches the console without anyone editing it.
 */
function operationScopes(): Plugin {
  const spec = path.resolve(ROOT, '../generated/openapi.json');
  return {
    name: 'licentric-operation-scopes',
    resolveId: (id) => (id === VIRTUAL ? `\0${VIRTUAL}` : null),
    load(id) {
      if (id !== `\0${VIRTUAL}`) return null;
      this.addWatchFile(spec);
      const document = JSON.parse(readFileSync(spec, 'utf8')) as {
        paths: Record<string, Record<string, { operationId?: string; 'x-required-scopes'?: string[] }>>;
      };
      const scopes: Record<string, string[]> = {};
      for (const item of Object.values(document.paths))
        for (const op of Object.values(item))
          if (op && typeof op === 'object' && op.operationId) scopes[op.operationId] = op['x-required-scopes'] ?? [];
      return `export default ${JSON.stringify(scopes)};`;
    },
  };
}

/**
 * The console's bundle, into dist/console/ (git-ignored), served by the server at /console.
 * Everything it needs is in the bundle: no CDN, no font, nothing fetched at run time.
 */
export default defineConfig({
  root: ROOT,
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  plugins: [operationScopes()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.resolve(ROOT, '../dist/console'),
    emptyOutDir: true,
    // Everything in files: a strict Content-Security-Policy allows no inline script or style.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
  },
});
