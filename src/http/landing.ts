import type express from 'express';
import { escapeHtml, htmlPage } from './html.ts';

export interface LandingLinks {
  title: string;
  version: string;
  apiBase: string;
}

/** What `GET /` and `GET /api/v1` link to, with the label a person reads. */
function indexLinks(apiBase: string): { rel: string; href: string; label: string }[] {
  return [
    { rel: 'docs', href: '/docs', label: 'API reference' },
    { rel: 'console', href: '/console', label: 'Support console' },
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

/** `GET /` (where to start: the reference, the documents, health) and `GET /api/v1` (the same links). */
export function mountLanding(app: express.Express, links: LandingLinks): void {
  const entries = indexLinks(links.apiBase);
  const index = {
    name: links.title,
    version: links.version,
    links: Object.fromEntries(entries.map((l) => [l.rel, l.href])),
  };
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
