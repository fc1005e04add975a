/**
 * When a failed message is tried again: the Standard Webhooks specification's example schedule
 * (as Svix runs it), counted from each failed attempt — 5 seconds, 5 minutes, 30 minutes, 2, 5,
 * 10 and 10 hours, about 27 hours in all — each delay moved by up to ±10 % so that the retries
 * of many messages failing together do not arrive together. After the eighth attempt the
 * message is given up.
 */
export const RETRY_DELAYS_SECONDS = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600] as const;

export const JITTER = 0.1;

/** The delay after failed attempt `attempt` (1-based), or null when it was the last. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number | null {
  const base = RETRY_DELAYS_SECONDS[attempt - 1];
  if (base === undefined) return null;
  return Math.round(base * 1000 * (1 + JITTER * (2 * random() - 1)));
}
