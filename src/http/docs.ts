import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type express from 'express';

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
 * `License `: the snippets and "Test Request" then send what the server expects.
 */
function documentForScalar(document: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(document) as { components?: { securitySchemes?: Record<string, Record<string, unknown>> } };
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

/** `GET /docs` (the interactive reference of /openapi.json) and `GET /` (where to start). */
export function mountDocs(app: express.Express, document: Record<string, unknown>, links: DocsLinks): void {
  const bundle = scalarBundle();
  const rendered = documentForScalar(document);
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
  };
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(links.title)} reference</title>
</head>
<body>
<div id="app"></div>
<script src="${bundlePath}"></script>
<script>Scalar.createApiReference('#app', ${JSON.stringify(configuration).replace(/</g, '\\u003c')});</script>
</body>
</html>
`;

  app.get('/docs', (_req, res) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    res.type('html').send(page);
  });
  app.get('/docs/openapi.json', (_req, res) => {
    res.json(rendered);
  });
  app.get(bundlePath, (_req, res) => {
    res.sendFile(bundle.file, { maxAge: '365d', immutable: true });
  });

  const index = {
    name: links.title,
    version: links.version,
    links: {
      docs: '/docs',
      openapiJson: '/openapi.json',
      openapiYaml: '/openapi.yaml',
      api: links.apiBase,
      health: '/healthz',
      ready: '/readyz',
    },
  };
  app.get('/', (_req, res) => {
    res.format({
      'application/json': () => res.json(index),
      'text/html': () => {
        const items = Object.entries(index.links)
          .map(([name, href]) => `<li><a href="${href}">${escapeHtml(href)}</a> — ${name}</li>`)
          .join('\n');
        res.send(
          `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(links.title)}</title></head>\n<body><h1>${escapeHtml(links.title)} ${escapeHtml(links.version)}</h1>\n<p>The API reference is at <a href="/docs">/docs</a>.</p>\n<ul>\n${items}\n</ul></body></html>\n`,
        );
      },
      default: () => res.json(index),
    });
  });
}
