import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type express from 'express';
import { loadOpenApiDocument } from './document.ts';
import { htmlPage } from './html.ts';

/**
 * Scalar's standalone bundle, straight from the pinned npm package: customer networks are
 * often offline, so the reference must never reach for a CDN.
 */
function scalarBundle(): { file: string; version: string } {
  const entry = createRequire(import.meta.url).resolve('@scalar/api-reference');
  const packageDir = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { file: path.join(packageDir, 'dist', 'browser', 'standalone.js'), version };
}

/**
 * Everything the page may load is served here. The policy makes a stray CDN font, a telemetry
 * beacon or a hosted request proxy fail loudly in the browser instead of leaking or hanging.
 */
const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "frame-ancestors 'self'",
].join('; ');

/**
 * The document as the reference page renders it. Scalar knows only the `basic` and `bearer` HTTP
 * schemes and shows any other one as `Authorization: Basic username:password`, so its copy of
 * the `License` scheme is the same header described as an API key whose value starts with
 * `License `: the snippets and "Test Request" then send what the server expects. Changes the
 * document it is given, a fresh parse of its own.
 */
function documentForScalar(document: Record<string, unknown>): Record<string, unknown> {
  const copy = document as { components?: { securitySchemes?: Record<string, Record<string, unknown>> } };
  for (const [name, scheme] of Object.entries(copy.components?.securitySchemes ?? {})) {
    const httpScheme = typeof scheme.scheme === 'string' ? scheme.scheme : '';
    if (scheme.type !== 'http' || ['basic', 'bearer'].includes(httpScheme.toLowerCase())) continue;
    copy.components!.securitySchemes![name] = {
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      description:
        `${scheme.description ?? ''}\n\nEnter the whole header value: \`${httpScheme} <credentials>\`.`.trim(),
    };
  }
  return copy as Record<string, unknown>;
}

/** For each non-Basic, non-Bearer HTTP scheme (ours: `License`), the header value a snippet shows. */
function licenseSchemeValues(document: Record<string, unknown>): Record<string, { value: string }> {
  const schemes =
    (document as { components?: { securitySchemes?: Record<string, { type?: string; scheme?: string }> } }).components
      ?.securitySchemes ?? {};
  return Object.fromEntries(
    Object.entries(schemes)
      .filter(
        ([, scheme]) =>
          scheme.type === 'http' && scheme.scheme && !['basic', 'bearer'].includes(scheme.scheme.toLowerCase()),
      )
      .map(([name, scheme]) => [name, { value: `${scheme.scheme} YOUR_LICENSE_KEY` }]),
  );
}

/** `GET /docs`: the interactive reference of /openapi.json, with everything it loads served here. */
export function mountDocs(app: express.Express, document: Record<string, unknown>, title: string): void {
  const bundle = scalarBundle();
  // The version is in the path so a browser may cache the (large) bundle for good.
  const bundlePath = `/docs/assets/scalar-api-reference-${bundle.version}.js`;
  const configuration = {
    url: '/docs/openapi.json',
    // Nothing that calls out: fonts, telemetry, the hosted AI agent and MCP integration, the request proxy.
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    showDeveloperTools: 'never',
    defaultOpenAllTags: true,
    operationTitleSource: 'summary',
    // Downloads would hand out the rendering copy; the landing page links the real /openapi.json.
    documentDownloadType: 'none',
    // What every snippet and "Test Request" sends until the reader fills in a real key: the
    // License scheme's whole header value, so a copied snippet is right but for the key itself.
    authentication: { securitySchemes: licenseSchemeValues(document) },
    // Keys, tokens and ids are long unbroken words: code samples and examples wrap them inside
    // their panels instead of hiding them past the edge.
    customCss: [
      '.scalar-app :is(pre, pre *) { white-space: pre-wrap !important; overflow-wrap: anywhere; }',
      '.scalar-app :is(code, .markdown) { overflow-wrap: anywhere; }',
    ].join('\n'),
  };
  const page = htmlPage(
    `${title} reference`,
    '',
    `<div id="app"></div>
<script src="${bundlePath}"></script>
<script>Scalar.createApiReference('#app', ${JSON.stringify(configuration).replace(/</g, '\\u003c')});</script>`,
  );

  app.get('/docs', (_req, res) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    res.type('html').send(page);
  });
  // Made for each request rather than kept: a reader loads it once per visit, and a copy of the
  // whole document held for that would stay in every server's heap for good.
  app.get('/docs/openapi.json', (_req, res) => {
    res.json(documentForScalar(loadOpenApiDocument()));
  });
  app.get(bundlePath, (_req, res) => {
    res.sendFile(bundle.file, { maxAge: '365d', immutable: true });
  });
}
