import { Migration } from '@mikro-orm/migrations';

/**
 * Events become readable (`GET /events`) and carry the objects they are about. Reads filter by
 * license, machine or type and walk the identity in order, so each filter has an index ending
 * in `id`. `licenses.expiry_announced` is the expiry instant whose `license.expired` event the worker
 * wrote: a license whose expiry is moved announces the new one when it passes, and never one
 * twice.
 */
export class Migration20261129000100_events extends Migration {
  override async up(): Promise<void> {
    // The objects carry metadata, which is `json` because jsonb refuses the escape \u0000.
    this.addSql(
      "alter table events alter column data drop default, alter column data type json using data::json, alter column data set default '{}'",
    );
    this.addSql('drop index events_machine_id_index');
    this.addSql('create index events_machine_id_id_index on events (machine_id, id)');
    this.addSql('create index events_license_id_id_index on events (license_id, id)');
    this.addSql('create index events_type_id_index on events (type, id)');
    this.addSql('create index events_occurred_at_index on events (occurred_at)');
    this.addSql('alter table licenses add column expiry_announced timestamptz(3) null');
    // Licenses that expired before this migration are history, not news.
    this.addSql('update licenses set expiry_announced = expires_at where expires_at <= now()');
    this.addSql(`
      create index licenses_expiry_unannounced_index on licenses (expires_at)
       where deleted_at is null and expires_at is not null and expires_at is distinct from expiry_announced`);
  }
}
