/**
 * The process lease rule, in one place: a process holds its seat until `lastHeartbeatAt +
 * processHeartbeatDuration` and has lost it from that instant on. No resurrection: once a lease
 * expired its seat may be another's, so the process must spawn again. `processLeaseSql` states the
 * same rule for PostgreSQL; test/processes.test.ts holds both to agree at the boundary.
 */
import { type Sql, sql } from '../db/sql.ts';

export type ProcessHeartbeatStatus = 'ALIVE' | 'DEAD';

/** When the lease expires unless a heartbeat comes before. */
export function leaseExpiresAt(lastHeartbeatAt: Date, durationSeconds: number): Date {
  return new Date(lastHeartbeatAt.getTime() + durationSeconds * 1000);
}

export function processHeartbeatStatus(
  lastHeartbeatAt: Date,
  durationSeconds: number,
  now: Date,
): ProcessHeartbeatStatus {
  return now.getTime() < leaseExpiresAt(lastHeartbeatAt, durationSeconds).getTime() ? 'ALIVE' : 'DEAD';
}

/**
 * The rule over a process row aliased `pr` and a row aliased `p` carrying
 * `process_heartbeat_duration` (the policy, or a row that selected it under that name).
 */
export const processLeaseSql = {
  expiresAt: (pr: string, p: string): Sql =>
    sql.raw(`${pr}.last_heartbeat_at + make_interval(secs => ${p}.process_heartbeat_duration)`),

  /**
   * Whether the lease has expired at `now`, written as a bound on `last_heartbeat_at` alone so that
   * the `(license_id, last_heartbeat_at)` and `(machine_id, last_heartbeat_at)` indexes read only
   * the expired rows.
   */
  expired: (pr: string, p: string, now: Date | Sql): Sql =>
    sql`${sql.raw(pr)}.last_heartbeat_at <= ${now}::timestamptz - make_interval(secs => ${sql.raw(p)}.process_heartbeat_duration)`,

  status: (pr: string, p: string, now: Date | Sql): Sql =>
    sql`(case when ${processLeaseSql.expired(pr, p, now)} then 'DEAD' else 'ALIVE' end)`,
};
