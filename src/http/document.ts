import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The project root: the nearest folder above this file with a package.json (src/ or dist/ alike). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (package.json)');
    dir = parent;
  }
  return dir;
}

export interface OpenApiDocument {
  yaml: string;
  json: Record<string, unknown>;
}

let cached: OpenApiDocument | undefined;

/** The generated OpenAPI document: the contract the server routes, validates and answers by. */
export function loadOpenApiDocument(): OpenApiDocument {
  if (!cached) {
    const yaml = readFileSync(path.join(projectRoot(), 'generated', 'openapi.yaml'), 'utf8');
    cached = { yaml, json: parse(yaml) as Record<string, unknown> };
  }
  return cached;
}
