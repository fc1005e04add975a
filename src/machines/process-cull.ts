import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { execute, type Sql, sql } from '../db/sql.ts';
import { WORKER_ACTOR } from '../events/actor.ts';
import type { Logger } from '../log.ts';
import { releaseProcessesSql } from './events.ts';
import { foldProcessCounts } from './process-count.ts';
import { processLeaseSql } from './process-lease.ts';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * One batch, one statement: claim up to `limit` processes whose lease has expired, walking the
 * primary key from `after`, and release them with their events (`HEARTBEAT_DEAD`).
 *
 * The claim is `FOR UPDATE … SKIP LOCKED`, as the machines' cull is (cull.ts): another worker's
 * claimed rows are skipped, and a row a heartbeat changed since the statement began is checked
 * against the rule again before it is claimed, so a process that heartbeats during a pass keeps
 * its lease. The release is a delete, so once one worker (or a spawn reaping the lease) has
 * released a process no other finds it: each is released, and logged, once.
 */
function cullProcessBatch(after: string, now: Date, limit: number): Sql {
  return sql`
  with claimed as (
    select pr.id
      from processes pr
      join licenses l on l.id = pr.license_id
      join policies p on p.id = l.policy_id
     where pr.id > ${after}
       and ${processLeaseSql.expired('pr', 'p', now)}
     order by pr.id
     limit ${limit}
       for update of pr skip locked
  ), ${releaseProcessesSql('released', sql`claimed c`, sql`pr.id = c.id and ${processLeaseSql.expired('pr', 'rp', now)}`, 'HEARTBEAT_DEAD', now, WORKER_ACTOR)}
  select (select count(*) from claimed)::int as claimed,
         (select max(id::text) from claimed) as last_id,
         (select count(*) from released_logged)::int as released`;
}

export interface ProcessCullResult {
  released: number;
  batches: number;
}

/** One pass: every process whose lease has expired is released, in batches. */
export async function cullProcessesPass(
  em: EntityManager,
  clock: Clock,
  log: Logger,
  options: { batchSize?: number } = {},
): Promise<ProcessCullResult> {
  const batchSize = options.batchSize ?? 1000;
  const now = clock.now();
  const result = { released: 0, batches: 0 };
  let after = ZERO_UUID;
  for (;;) {
    const [row] = await execute<{ claimed: number; last_id: string | null; released: number }[]>(
      em,
      cullProcessBatch(after, now, batchSize),
    );
    result.batches += 1;
    result.released += row!.released;
    if (row!.claimed < batchSize || row!.last_id === null) break;
    after = row!.last_id;
  }
  // Releases, the pass's and the API's, wrote count deltas; folding keeps counts one row deep.
  await foldProcessCounts(em);
  if (result.released > 0) log.info(result, `process cull pass released=${result.released} batches=${result.batches}`);
  return result;
}
