import type { EntityManager } from '@mikro-orm/postgresql';
import { arrayLiteral, execute, type Sql, sql } from '../db/sql.ts';
import { type Actor, actorValuesSql } from './actor.ts';
import type { EventType } from './types.ts';

/**
 * What an event is about, as the object's own folder describes it (`licenseSubject` in
 * licenses/events.ts, `policySubject`, …): the outbox knows no domain's tables. Statements that
 * change many rows at once write their events themselves, with the same renderers.
 */
export interface Subject {
  /** The field of `data` that carries the object: `machine`, `license`, … */
  name: string;
  /** The rows the object is read from, through the condition that picks its one row. */
  from: Sql;
  /** The object as the API shows it at `now`, from those rows (see test/events.test.ts). */
  object: (now: Date) => Sql;
  /** The license and machine the event is filed under, from those rows; none when absent. */
  licenseId?: Sql;
  machineId?: Sql;
}

/**
 * Writes one event about one object, rendered from its row as it stands in this transaction:
 * call it inside the transaction of the change, after the change is flushed. `details` are
 * further fields of `data` beside the object (a deactivation's reason, a check-out's file);
 * `actor`, who caused it (the unit of work's `Services.actor`).
 */
export async function recordEvent(
  em: EntityManager,
  type: EventType,
  subject: Subject,
  now: Date,
  actor: Actor | null,
  details: Record<string, string | readonly string[] | Record<string, string | number | null>> = {},
): Promise<void> {
  const extra = Object.entries(details).map(([key, value]) =>
    typeof value === 'string'
      ? sql`, ${key}::text, ${value}::text`
      : Array.isArray(value)
        ? sql`, ${key}::text, to_json(${arrayLiteral(value)}::text[])`
        : sql`, ${key}::text, ${JSON.stringify(value)}::json`,
  );
  await execute(
    em,
    sql`insert into events (type, occurred_at, machine_id, license_id, actor_type, actor_id, data)
        select ${type}, ${now}, ${subject.machineId ?? sql`null::uuid`}, ${subject.licenseId ?? sql`null::uuid`}, ${actorValuesSql(actor)},
               json_build_object(${subject.name}::text, ${subject.object(now)}${sql.join(extra, '')})
          from ${subject.from}`,
  );
}
