/**
 * The limit rules of a policy, in one place and pure (as licenses/status.ts is for statuses):
 * how far a license may go over `maxMachines` and `maxCores` under an overage strategy, and
 * where a fingerprint must be unique. Activation and validation both ask here.
 */

export const OVERAGE_STRATEGIES = [
  'NO_OVERAGE',
  'ALLOW_1_25X_OVERAGE',
  'ALLOW_1_5X_OVERAGE',
  'ALLOW_2X_OVERAGE',
  'ALWAYS_ALLOW_OVERAGE',
] as const;
export type OverageStrategy = (typeof OVERAGE_STRATEGIES)[number];

export const UNIQUENESS_STRATEGIES = [
  'UNIQUE_PER_LICENSE',
  'UNIQUE_PER_POLICY',
  'UNIQUE_PER_PRODUCT',
  'UNIQUE_PER_INSTANCE',
] as const;
export type MachineUniquenessStrategy = (typeof UNIQUENESS_STRATEGIES)[number];

/** Each factor as a fraction, so the allowance is exact integer arithmetic. */
const FACTORS: Record<Exclude<OverageStrategy, 'ALWAYS_ALLOW_OVERAGE'>, [number, number]> = {
  NO_OVERAGE: [1, 1],
  ALLOW_1_25X_OVERAGE: [5, 4],
  ALLOW_1_5X_OVERAGE: [3, 2],
  ALLOW_2X_OVERAGE: [2, 1],
};

/** The most a license may reach under `limit` with `strategy`: the limit times the factor, rounded down. */
export function overageAllowance(limit: number | null, strategy: OverageStrategy): number {
  if (limit === null || strategy === 'ALWAYS_ALLOW_OVERAGE') return Number.POSITIVE_INFINITY;
  const [numerator, denominator] = FACTORS[strategy];
  return Math.floor((limit * numerator) / denominator);
}

/**
 * Why `strategy` makes no sense with `limit`, or null. A factor that rounds down to the limit
 * itself (1.25× of 1–3, 1.5× of 1) promises an overage it never grants; Keygen refuses any limit
 * not divisible by 4 or 2 instead, but rounding down states what 1.25× of 6 means, so only the
 * combinations that would grant nothing are refused.
 */
export function pointlessOverage(limit: number | null, strategy: OverageStrategy): string | null {
  if (limit === null || strategy === 'NO_OVERAGE' || strategy === 'ALWAYS_ALLOW_OVERAGE') return null;
  if (overageAllowance(limit, strategy) > limit) return null;
  const least = strategy === 'ALLOW_1_25X_OVERAGE' ? 4 : 2;
  return `${strategy} allows nothing over a limit of ${limit}: it needs limits of at least ${least}`;
}

/** How a count stands against its limit: within it, over it but within the allowance, or beyond. */
export type LimitStanding = 'WITHIN' | 'OVERAGE' | 'BEYOND';

export function limitStanding(count: number, limit: number | null, strategy: OverageStrategy): LimitStanding {
  if (limit === null || count <= limit) return 'WITHIN';
  return count <= overageAllowance(limit, strategy) ? 'OVERAGE' : 'BEYOND';
}
