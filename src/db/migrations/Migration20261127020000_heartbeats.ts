import { Migration } from '@mikro-orm/migrations';

/**
 * The culling worker: when a KEEP_DEAD machine was found dead (recorded once), and the events
 * it writes, the start of an audit log. Events get an identity column rather than a UUID:
 * consumers (webhooks, later) read them in commit-friendly insertion order.
 *
 * No index on machines.last_heartbeat_at: every heartbeat updates it, and an index on it would
 * turn those updates from HOT (heap-only, no index writes) into full updates. See bench/.
 */
export class Migration20261127020000_heartbeats extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table machines add column dead_at timestamptz(3) null');
    this.addSql(`
      create table events (
        id bigint generated always as identity primary key,
        type text not null,
        occurred_at timestamptz(3) not null,
        machine_id uuid null references machines (id),
        license_id uuid null references licenses (id),
        data jsonb not null default '{}'
      )`);
    this.addSql('create index events_machine_id_index on events (machine_id)');
  }
}
