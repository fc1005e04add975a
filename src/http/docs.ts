import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type express from 'express';
import { loadOpenApiDocument } from './document.ts';

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

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
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

export interface DocsLinks {
  title: string;
  version: string;
  apiBase: string;
}

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
      description: `${scheme.description ?? ''}\n\nEnter the whole header value: \`${httpScheme} <credentials>\`.`.trim(),
    };
  }
  return copy as Record<string, unknown>;
}

/** For each non-Basic, non-Bearer HTTP scheme (ours: `License`), the header value a snippet shows. */
function licenseSchemeValues(document: Record<string, unknown>): Record<string, { value: string }> {
  const schemes = (document as { components?: { securitySchemes?: Record<string, { type?: string; scheme?: string }> } }).components?.securitySchemes ?? {};
  return Object.fromEntries(
    Object.entries(schemes)
      .filter(([, scheme]) => scheme.type === 'http' && scheme.scheme && !['basic', 'bearer'].includes(scheme.scheme.toLowerCase()))
      .map(([name, scheme]) => [name, { value: `${scheme.scheme} YOUR_LICENSE_KEY` }]),
  );
}

/** A whole page; `head` and `body` are trusted markup, `title` is text. */
function htmlPage(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>${head ? `\n${head}` : ''}
</head>
<body>
${body}
</body>
</html>
`;
}

/** What `GET /` and `GET /api/v1` link to, with the label a person reads. */
function indexLinks(apiBase: string): { rel: string; href: string; label: string }[] {
  return [
    { rel: 'docs', href: '/docs', label: 'API reference' },
    { rel: 'openapiJson', href: '/openapi.json', label: 'OpenAPI document (JSON)' },
    { rel: 'openapiYaml', href: '/openapi.yaml', label: 'OpenAPI document (YAML)' },
    { rel: 'api', href: apiBase, label: 'API base' },
    { rel: 'health', href: '/healthz', label: 'Liveness' },
    { rel: 'ready', href: '/readyz', label: 'Readiness (checks the database)' },
  ];
}

const LANDING_CSS = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1.5rem;color:#1c1e21}
h1{font-size:1.6rem;margin:0}.version{color:#6b7280;font-weight:normal;font-size:1rem;margin-left:.5rem}
p{color:#374151}ul{list-style:none;padding:0}li{padding:.55rem 0;border-top:1px solid #e5e7eb}
a{color:#2563eb;text-decoration:none;font-weight:600}a:hover{text-decoration:underline}
code{font-size:.9rem;color:#6b7280;margin-left:.5rem;overflow-wrap:anywhere}`;

/** `GET /docs` (the interactive reference of /openapi.json), `GET /` (where to start) and `GET /api/v1` (the same links). */
export function mountDocs(app: express.Express, document: Record<string, unknown>, links: DocsLinks): void {
  const bundle = scalarBundle();
  // The version is in the path so a browser may cache the 5 MB bundle for good.
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
    `${links.title} reference`,
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
  // whole document held for that would cost every server ~3 MiB of heap for good.
  app.get('/docs/openapi.json', (_req, res) => {
    res.json(documentForScalar(loadOpenApiDocument()));
  });
  app.get(bundlePath, (_req, res) => {
    res.sendFile(bundle.file, { maxAge: '365d', immutable: true });
  });

  const entries = indexLinks(links.apiBase);
  const index = { name: links.title, version: links.version, links: Object.fromEntries(entries.map((l) => [l.rel, l.href])) };
  const landing = htmlPage(
    links.title,
    `<style>${LANDING_CSS}</style>`,
    `<h1>${escapeHtml(links.title)}<span class="version">${escapeHtml(links.version)}</span></h1>
<p>A self-hosted software-licensing server. Start with the API reference; it explains how to get keys.</p>
<ul>
${entries.map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a><code>${escapeHtml(l.href)}</code></li>`).join('\n')}
</ul>`,
  );
  app.get('/', (_req, res) => {
    res.format({
      'application/json': () => res.json(index),
      'text/html': () => res.send(landing),
      default: () => res.json(index),
    });
  });
  // The API base itself is no operation; a person or program that opens it gets the same map.
  app.get(links.apiBase, (_req, res) => {
    res.json(index);
  });
}
