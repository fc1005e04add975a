import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

/** Every module under src/ with the src/ modules it imports, type-only imports included. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const text = readFileSync(path.join(SRC, file), 'utf8');
    const imports = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.{1,2}\/[^']+)'/gms)]
      .map((m) => path.relative(SRC, path.resolve(path.dirname(path.join(SRC, file)), m[1]!)))
      .filter((target) => !target.startsWith('..'));
    graph.set(file, imports);
  }
  return graph;
}

/** The import cycles of the graph, each once, as the path around it. */
function cycles(graph: Map<string, string[]>): string[] {
  const found = new Set<string>();
  const visit = (node: string, trail: string[]) => {
    const at = trail.indexOf(node);
    if (at !== -1) {
      const loop = trail.slice(at);
      const start = loop.indexOf([...loop].sort()[0]!);
      found.add([...loop.slice(start), ...loop.slice(0, start), loop[start]].join(' → '));
      return;
    }
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
  };
  for (const node of graph.keys()) visit(node, []);
  return [...found].sort();
}

/** Folder pairs that import each other (db ↔ the entity folders: `db/orm.ts` registers entities); the list may only shrink. Pairs that remain (see the layers in docs/architecture.md); the list may only shrink. */
const KNOWN_FOLDER_CYCLES: string[] = [
  'db ↔ keys',
  'db ↔ licenses',
  'db ↔ machines',
  'events ↔ licenses',
  'events ↔ machines',
  'licenses ↔ machines',
  'licenses ↔ policies',
];

describe('how the modules of src/ depend on each other', () => {
  const graph = importGraph();

  it('has no import cycles, so each module can be read, tested and changed from the bottom up', () => {
    expect(graph.size).toBeGreaterThan(40);
    expect(cycles(graph)).toEqual([]);
  });

  it('reads configuration in one place: only the entry points import config.ts', () => {
    const importers = [...graph]
      .filter(([, imports]) => imports.includes('config.ts'))
      .map(([file]) => file)
      .sort();
    expect(importers).toEqual(['background.ts', 'cli.ts', 'cli/command.ts', 'runtime.ts', 'server.ts']);
  });

  it('keeps the domain free of HTTP: nothing outside src/http/ imports it but the entry points', () => {
    const importers = [...graph]
      .filter(([file, imports]) => !file.startsWith('http/') && imports.some((i) => i.startsWith('http/')))
      .map(([file]) => file)
      .sort();
    // The CLI's commands print what the API's presenters make.
    expect(importers).toEqual([
      'cli/commands/api-keys.ts',
      'cli/commands/entitlements.ts',
      'cli/commands/licenses.ts',
      'cli/commands/machines.ts',
      'cli/commands/policies.ts',
      'server.ts',
    ]);
  });
  it('has no two folders importing each other beyond the known ones still to be broken, so no new one creeps in', () => {
    const folder = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');
    const folders = new Map<string, string[]>();
    for (const [file, imports] of graph) {
      const from = folder(file);
      if (from === '.') continue;
      const targets = new Set(folders.get(from));
      for (const target of imports.map(folder)) if (target !== from && target !== '.') targets.add(target);
      folders.set(from, [...targets]);
    }
    const mutual = [...folders]
      .flatMap(([from, targets]) =>
        targets.filter((to) => from < to && folders.get(to)?.includes(from)).map((to) => `${from} ↔ ${to}`),
      )
      .sort();
    expect(mutual).toEqual(KNOWN_FOLDER_CYCLES);
  });
});
