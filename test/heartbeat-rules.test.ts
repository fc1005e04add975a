import { describe, expect, it } from 'vitest';
import { execute, sql } from '../src/db/sql.ts';
import {
  type HeartbeatPolicy,
  heartbeatSql,
  heartbeatStatus,
  nextHeartbeatAt,
  pastResurrection,
} from '../src/machines/heartbeat.ts';
import { useTestServer } from './support/harness.ts';

const server = useTestServer();

/** Evaluates the SQL side of the rule in PostgreSQL for one machine, policy and instant. */
async function inDatabase(last: Date, policy: HeartbeatPolicy, now: Date) {
  const em = server.orm.em.fork();
  const [row] = await execute<{ status: string; dead: boolean; past: boolean; deadline: Date }[]>(
    em,
    sql`select ${heartbeatSql.status('m', 'p', now)} as status,
               ${heartbeatSql.dead('m', 'p', now)} as dead,
               ${heartbeatSql.pastResurrection('m', 'p', now)} as past,
               ${heartbeatSql.deadline('m', 'p')} as deadline
          from (select ${last}::timestamptz(3) as last_heartbeat_at) m,
               (select ${policy.requireHeartbeat}::boolean as require_heartbeat, ${policy.heartbeatDuration}::int as heartbeat_duration,
                       ${policy.heartbeatResurrectionWindow}::int as heartbeat_resurrection_window) p`,
  );
  return { status: row!.status, dead: row!.dead, past: row!.past, deadline: new Date(row!.deadline) };
}

const last = new Date('2026-03-01T14:00:00.123Z');

describe('the heartbeat rule: one pure function, the same rule in SQL', () => {
  const policies: HeartbeatPolicy[] = [
    { requireHeartbeat: true, heartbeatDuration: 600, heartbeatResurrectionWindow: 0 },
    { requireHeartbeat: true, heartbeatDuration: 60, heartbeatResurrectionWindow: 3600 },
    { requireHeartbeat: true, heartbeatDuration: 2592000, heartbeatResurrectionWindow: 2592000 },
    { requireHeartbeat: false, heartbeatDuration: 600, heartbeatResurrectionWindow: 0 },
  ];

  for (const policy of policies) {
    const label = `${policy.requireHeartbeat ? 'required' : 'not required'}, ${policy.heartbeatDuration}s + ${policy.heartbeatResurrectionWindow}s`;
    it(`agrees at the deadline and the end of the resurrection window, ±1 ms (${label})`, async () => {
      const deadline = last.getTime() + policy.heartbeatDuration * 1000;
      const reviveBy = deadline + policy.heartbeatResurrectionWindow * 1000;
      const instants = [last.getTime(), deadline - 1, deadline, deadline + 1, reviveBy - 1, reviveBy, reviveBy + 1];
      for (const t of instants) {
        const now = new Date(t);
        const sql = await inDatabase(last, policy, now);
        expect(sql.status, `${now.toISOString()} status`).toBe(heartbeatStatus(last, policy, now));
        expect(sql.dead, `${now.toISOString()} dead`).toBe(heartbeatStatus(last, policy, now) === 'DEAD');
        expect(sql.past, `${now.toISOString()} past resurrection`).toBe(pastResurrection(last, policy, now));
      }
      if (policy.requireHeartbeat) {
        expect((await inDatabase(last, policy, last)).deadline).toEqual(nextHeartbeatAt(last, policy));
      }
    });
  }

  it('is alive strictly before the deadline and dead from it on', () => {
    const policy = policies[0]!;
    const deadline = nextHeartbeatAt(last, policy)!;
    expect(deadline.toISOString()).toBe('2026-03-01T14:10:00.123Z');
    expect(heartbeatStatus(last, policy, new Date(deadline.getTime() - 1))).toBe('ALIVE');
    expect(heartbeatStatus(last, policy, deadline)).toBe('DEAD');
    expect(pastResurrection(last, policy, deadline)).toBe(true);
    const windowed = policies[1]!;
    const windowedDeadline = nextHeartbeatAt(last, windowed)!;
    expect(pastResurrection(last, windowed, windowedDeadline)).toBe(false);
    expect(pastResurrection(last, windowed, new Date(windowedDeadline.getTime() + 3600_000))).toBe(true);
  });

  it('never declares anything about a policy without heartbeats', () => {
    const policy = policies[3]!;
    expect(nextHeartbeatAt(last, policy)).toBeNull();
    expect(heartbeatStatus(last, policy, new Date('2100-01-01'))).toBe('NOT_REQUIRED');
    expect(pastResurrection(last, policy, new Date('2100-01-01'))).toBe(false);
  });
});
