import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * Where the generated OpenAPI document lives, in each of the two forms the generator writes
 * (the same document): served from disk as they are, so the server keeps no copy of the text.
 */
export function openApiFile(format: 'json' | 'yaml'): string {
  return path.join(projectRoot(), 'generated', `openapi.${format}`);
}

/**
 * The generated OpenAPI document, parsed afresh on every call, so whoever asks owns (and may
 * change) its copy and nothing keeps it alive after its last user. The JSON form, never the
 * YAML: a YAML parser grows the process many times more than JSON.parse does to read it
 * (bench/README.md, "Memory").
 */
export function loadOpenApiDocument(): Record<string, unknown> {
  return JSON.parse(readFileSync(openApiFile('json'), 'utf8')) as Record<string, unknown>;
}
