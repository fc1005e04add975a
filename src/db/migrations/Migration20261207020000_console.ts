import { Migration } from '@mikro-orm/migrations';

/**
 * The support console's reads (issue 21), each served by an index so that it costs the same at a
 * million licenses or machines as at a hundred.
 *
 * - License search by name: a substring in any case, through a trigram index (`pg_trgm`, a
 *   trusted extension that ships with PostgreSQL, so the database's owner may create it).
 * - License search by metadata: a top-level value equal to the text, strings in any case. The
 *   values are folded to lower case by `licentric_metadata_values`, whose array a GIN index
 *   holds. It leaves out what no search can equal and what PostgreSQL cannot index or convert:
 *   nested values, values over 256 characters (the longest search), and strings holding the
 *   escape `\u0000`, which json keeps but text cannot hold (the metadata's other values stay
 *   searchable).
 * - The review queue: the machines a KEEP_DEAD policy kept, which the culling worker marks with
 *   `dead_at`, in the order they died. A partial index holds only those, so a page and the
 *   queue's length read the queue and nothing else. It never names `last_heartbeat_at`: an index
 *   on a column every heartbeat updates would make those updates non-HOT (the heartbeats
 *   migration); a heartbeat writes `dead_at` only from null to null, which keeps them HOT.
 */
export class Migration20261207020000_console extends Migration {
  override async up(): Promise<void> {
    this.addSql('create extension if not exists pg_trgm');
    this.addSql('create index licenses_name_trgm_index on licenses using gin (name gin_trgm_ops)');
    // json keeps the escape \u0000, but every function that reads a json value into text
    // refuses it, json_each included; read as \ufffd (never written so by JSON.stringify), its
    // values are then left out. Metadata is an object; anything else has no values to search.
    this.addSql(`
      create function licentric_metadata_values(metadata json) returns text[]
        language sql immutable strict parallel safe as $$
          select coalesce(array_agg(distinct lower(v)), '{}')
            from (select case when json_typeof(e.value) in ('string', 'number', 'boolean')
                               and strpos(e.value::text, '\\ufffd') = 0
                              then e.value #>> '{}' end as v
                    from (select replace(metadata::text, '\\u0000', '\\ufffd')::json as j) d,
                         json_each(case when json_typeof(d.j) = 'object' then d.j else '{}' end) e) s
           where length(v) <= 256
        $$`);
    this.addSql(
      'create index licenses_metadata_values_index on licenses using gin (licentric_metadata_values(metadata))',
    );
    this.addSql(
      'create index machines_review_queue_index on machines (dead_at, id) where dead_at is not null and deleted_at is null',
    );
  }
}
