import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express from 'express';

/**
 * Where the console's build lands (`npm ci`, `make run` and `make test` build it; console/ holds
 * its source). The same folder from src/http and from a compiled dist/http.
 */
export const CONSOLE_DIR = path.resolve(import.meta.dirname, '../../dist/console');

/**
 * The console loads its own script and stylesheet and calls this server's API, nothing else:
 * no inline script or style, no other origin, no frame, no plugin. An injected script or a
 * stray CDN reference fails in the browser instead of running or leaking the API key.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `GET /console`: the support console, a single page over the public API (console/). The page is
 * read per request, so a rebuild shows without a restart; its assets carry a hash in their
 * names and are cached for good.
 */
export function mountConsole(app: express.Express, dir: string = CONSOLE_DIR): void {
  app.use('/console', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The page's URL never holds a key, but nothing about the console is anyone else's business.
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  app.get('/console', async (_req, res) => {
    let page: string;
    try {
      page = await readFile(path.join(dir, 'index.html'), 'utf8');
    } catch {
      res
        .status(503)
        .type('text/plain')
        .send('The console is not built. `make run` builds it; or run `npm run build:console`, then reload.\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(page);
  });
  app.use(
    '/console/assets',
    express.static(path.join(dir, 'assets'), { index: false, immutable: true, maxAge: '365d' }),
  );
}
