/** Edit distance (insertions, deletions, substitutions, and swaps of neighbours count one each). */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** Case, `_` and `-` are how people misspell a name most: `max_machines`, `policyID`, `api_keys`. */
const normalize = (name: string) => name.toLowerCase().replace(/[-_\s]/g, '');

/**
 * The known name a misspelt one most likely meant, or undefined when none is close enough to
 * guess: a wrong guess would send the reader further astray than none.
 */
export function closest(name: string, known: Iterable<string>): string | undefined {
  const wanted = normalize(name);
  let best: { candidate: string; cost: number } | undefined;
  for (const candidate of known) {
    const cost = distance(wanted, normalize(candidate));
    if (cost <= Math.max(1, Math.floor(wanted.length / 4)) && (!best || cost < best.cost)) best = { candidate, cost };
  }
  return best?.candidate;
}
