import { Migration } from '@mikro-orm/migrations';

/**
 * Events name who caused them (`src/events/actor.ts`): `actor_type` and, for an API key or a
 * license, its id in `actor_id`. Events written before this migration keep both null: nothing
 * recorded who caused them, and guessing would be worse than saying so (the API shows
 * `actor: null`). Every event written from now on has a type; the check is added `not valid`, so
 * it holds for every new row without scanning the existing ones, which are all null and pass it
 * anyway.
 *
 * `GET /events?actorId=` and `?actorType=` walk the log in id order, as the other filters do, so
 * each has an index ending in `id`. Worker and CLI events have no id: the actor-id index leaves
 * them out, so the events a fleet's culling writes cost it nothing.
 */
export class Migration20261207000000_event_actors extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table events add column actor_type text null, add column actor_id uuid null');
    this.addSql(`
      alter table events add constraint events_actor_check check (
        (actor_type in ('apiKey', 'license') and actor_id is not null) or (actor_type in ('worker', 'cli') and actor_id is null)
      ) not valid`);
    this.addSql('create index events_actor_id_id_index on events (actor_id, id) where actor_id is not null');
    this.addSql('create index events_actor_type_id_index on events (actor_type, id)');
  }
}
