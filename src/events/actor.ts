import { type Sql, sql } from '../db/sql.ts';

/** Who may cause an event, as `GET /events` and webhook payloads name them. */
export const ACTOR_TYPES = ['apiKey', 'license', 'worker', 'cli'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

/**
 * Who caused an event: the credential of the request that wrote it (the API key's or the
 * license's id), or the server's own work (`worker`: a worker pass, webhook delivery, the first
 * admin key of a first start) or an operator's `licentric` command (`cli`), which have no id.
 * A change's consequences written in its transaction (a license's machines deactivated with it,
 * an overage, an expiry started, a process reaped by a spawn) are the same actor's.
 */
export type Actor = { type: 'apiKey' | 'license'; id: string } | { type: 'worker' | 'cli'; id: null };

export const WORKER_ACTOR: Actor = Object.freeze({ type: 'worker', id: null });
export const CLI_ACTOR: Actor = Object.freeze({ type: 'cli', id: null });

/**
 * The values of `actor_type, actor_id` in an `insert into events`, in that order. `null`: services
 * made before a request was authenticated, which only authenticate and read; an event written
 * with them would name no one, so it is refused as the fault it is.
 */
export function actorValuesSql(actor: Actor | null): Sql {
  if (actor === null) throw new Error('an event was written by services that act for no one');
  return sql`${actor.type}::text, ${actor.id}::uuid`;
}

/** An event row's actor as the API shows it, from its columns under `alias`; null for events from before actors. */
export function actorJsonSql(alias: string): Sql {
  const e = sql.raw(alias);
  return sql`case when ${e}.actor_type is null then null
                  else json_build_object('type', ${e}.actor_type, 'id', ${e}.actor_id) end`;
}
