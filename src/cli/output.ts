import type { Values } from './arguments.ts';

/** Prints JSON with --json, else the human line. */
export function output(values: Values, json: unknown, human: string): void {
  process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

export function table(rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function pageFooter(page: { hasMore: boolean; nextCursor: string | null }): string {
  return page.hasMore ? `\nMore follow: --cursor ${page.nextCursor}` : '';
}
