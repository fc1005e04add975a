/**
 * The heartbeat rule, in one place. A machine of a policy that requires heartbeats is alive
 * until `lastHeartbeatAt + heartbeatDuration` and dead from that instant on; it may be revived
 * by a heartbeat until `heartbeatResurrectionWindow` seconds after that. The culling worker's
 * SQL (`heartbeatSql` below) states the same rule for the database,
 * and a test holds the two to agree at the boundaries.
 */

import { type Sql, sql } from '../db/sql.ts';

export type HeartbeatStatus = 'NOT_REQUIRED' | 'ALIVE' | 'DEAD';

export interface HeartbeatPolicy {
  requireHeartbeat: boolean;
  /** Seconds. */
  heartbeatDuration: number;
  /** Seconds. */
  heartbeatResurrectionWindow: number;
}

/** When the machine must send its next heartbeat by, or null when none is required. */
export function nextHeartbeatAt(lastHeartbeatAt: Date, policy: HeartbeatPolicy): Date | null {
  if (!policy.requireHeartbeat) return null;
  return new Date(lastHeartbeatAt.getTime() + policy.heartbeatDuration * 1000);
}

export function heartbeatStatus(lastHeartbeatAt: Date, policy: HeartbeatPolicy, now: Date): HeartbeatStatus {
  const deadline = nextHeartbeatAt(lastHeartbeatAt, policy);
  if (deadline === null) return 'NOT_REQUIRED';
  return now.getTime() < deadline.getTime() ? 'ALIVE' : 'DEAD';
}

/** Whether a dead machine is past reviving: what the culling worker acts on. */
export function pastResurrection(lastHeartbeatAt: Date, policy: HeartbeatPolicy, now: Date): boolean {
  const deadline = nextHeartbeatAt(lastHeartbeatAt, policy);
  if (deadline === null) return false;
  return now.getTime() >= deadline.getTime() + policy.heartbeatResurrectionWindow * 1000;
}

/**
 * The same rule for PostgreSQL, over a machine row aliased `m` and its policy row aliased `p`,
 * at the instant `now` (bound by the fragment itself). Deadlines are computed with
 * make_interval, exact to the millisecond like the functions above; heartbeat-rules.test.ts
 * holds both sides to agree at the boundaries.
 */
export const heartbeatSql = {
  deadline: (m: string, p: string): Sql =>
    sql.raw(`${m}.last_heartbeat_at + make_interval(secs => ${p}.heartbeat_duration)`),

  /** `heartbeatStatus(…)` as a CASE expression; `now` a bound instant or a column. */
  status: (m: string, p: string, now: Date | Sql): Sql =>
    sql`(case when not ${sql.raw(p)}.require_heartbeat then 'NOT_REQUIRED'
              when ${now} < ${heartbeatSql.deadline(m, p)} then 'ALIVE'
              else 'DEAD' end)`,

  /**
   * `heartbeatStatus(…) === 'DEAD'` as a boolean expression: the same rule as `status`, in a form
   * whose selectivity the planner can estimate (it guesses at a CASE compared to a constant).
   */
  dead: (m: string, p: string, now: Date | Sql): Sql =>
    sql`(${sql.raw(p)}.require_heartbeat and ${now} >= ${heartbeatSql.deadline(m, p)})`,

  /**
   * A condition `dead` implies, over the machine row alone: its last heartbeat is at least the
   * shortest heartbeat duration of any policy old. The walks that look for the dead (the DEAD
   * filter, the culling pass) add it so that PostgreSQL drops a live machine while it reads the
   * row, before it joins the machine's policy to apply the rule itself; the policies are few, so
   * the minimum is one sub-select a statement. No policy requires heartbeats: null, nothing passes.
   */
  mayBeDead: (m: string, now: Date | Sql): Sql =>
    sql`${sql.raw(m)}.last_heartbeat_at <= ${now}::timestamptz
          - (select make_interval(secs => min(heartbeat_duration)) from policies where require_heartbeat)`,

  /** The same for `pastResurrection`: the shortest duration and window together. */
  mayBePastResurrection: (m: string, now: Date | Sql): Sql =>
    sql`${sql.raw(m)}.last_heartbeat_at <= ${now}::timestamptz
          - (select make_interval(secs => min(heartbeat_duration + heartbeat_resurrection_window))
               from policies where require_heartbeat)`,

  /** `pastResurrection(…)` as a boolean expression. */
  pastResurrection: (m: string, p: string, now: Date | Sql): Sql =>
    sql`(${sql.raw(p)}.require_heartbeat and ${now} >= ${sql.raw(`${m}.last_heartbeat_at
           + make_interval(secs => ${p}.heartbeat_duration + ${p}.heartbeat_resurrection_window)`)})`,
};
