import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

/** Every module under src/ with the modules it imports (`../generated/…` beyond src/), type-only imports included. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const text = readFileSync(path.join(SRC, file), 'utf8');
    const imports = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.{1,2}\/[^']+)'/gms)].map((m) =>
      path.relative(SRC, path.resolve(path.dirname(path.join(SRC, file)), m[1]!)),
    );
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

/** The one pair of folders that import each other: one module (see its row in docs/architecture.md). */
const ONE_MODULE_IN_TWO_FOLDERS = [
  // A license is the aggregate its machines belong to: activation limits machines under the
  // license's row lock and by its status, deleting a license deactivates its machines in its
  // transaction, and validation answers for a license on one machine.
  'licenses ↔ machines',
];

/** The module a file of src/ belongs to: its folder (`http/`), or itself at the root (`log.ts`); `generated/` beyond. */
function moduleOf(file: string): string {
  if (file.startsWith('../')) return `${file.split('/')[1]}/`;
  return file.includes('/') ? `${file.slice(0, file.indexOf('/'))}/` : file;
}

interface Layer {
  modules: string[];
  /** undefined: every module. */
  mayImport: string[] | undefined;
}

/** The table under "The layers" in docs/architecture.md: each row's modules and what they may import. */
function layers(): Layer[] {
  const doc = readFileSync(path.resolve(import.meta.dirname, '../docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## The layers'), doc.indexOf('\n## ', doc.indexOf('## The layers')));
  const named = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [modules, , mayImport] = line.split('|').slice(1, -1);
      return { modules: named(modules!), mayImport: mayImport!.trim() === 'all' ? undefined : named(mayImport!) };
    });
}

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
      'cli/commands/processes.ts',
      'cli/commands/products.ts',
      'cli/commands/signing-keys.ts',
      'server.ts',
    ]);
  });
  it('imports only down the layers of docs/architecture.md', () => {
    const table = layers();
    expect(table.length).toBeGreaterThan(10);
    const rowOf = new Map(table.flatMap((row) => row.modules.map((module) => [module, row] as const)));
    const unlisted = [...new Set([...graph.keys()].map(moduleOf))].filter((module) => !rowOf.has(module)).sort();
    expect(unlisted, 'modules of src/ without a row in the layers table').toEqual([]);
    const violations = [...graph].flatMap(([file, imports]) => {
      const row = rowOf.get(moduleOf(file))!;
      return imports
        .filter((target) => {
          const to = moduleOf(target);
          return !(row.mayImport === undefined || row.modules.includes(to) || row.mayImport.includes(to));
        })
        .map(
          (target) => `src/${file} imports ${target}: ${row.modules.join(' ')} may import ${row.mayImport!.join(' ')}`,
        );
    });
    expect(violations).toEqual([]);
  });

  it('has layers that are layers: no row may import, through others, a row that may import it', () => {
    const table = layers();
    const rowOf = new Map(table.flatMap((row) => row.modules.map((module) => [module, row] as const)));
    const below = (row: Layer): Layer[] =>
      row.mayImport === undefined
        ? table.filter((other) => other !== row)
        : [...new Set(row.mayImport.map((module) => rowOf.get(module)!))];
    const loops = table.filter((row) => {
      const seen = new Set<Layer>();
      const stack = below(row);
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (next === row) return true;
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...below(next));
      }
      return false;
    });
    expect(loops.map((row) => row.modules.join(' '))).toEqual([]);
  });

  it('has no two folders importing each other but the one module in two folders', () => {
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
    expect(mutual).toEqual(ONE_MODULE_IN_TWO_FOLDERS);
  });
});
