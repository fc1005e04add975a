import { Migration } from '@mikro-orm/migrations';

/**
 * Retention (src/db/retention.ts): the worker deletes old events and webhook deliveries in
 * batches that walk a time index in order.
 *
 * - `events (occurred_at, id)` replaces `events (occurred_at)`: the walk's cursor is a row
 *   comparison on both columns, and the filter `GET /events?occurredFrom=` reads the new index as
 *   it read the old one.
 * - `webhook_messages (created_at, id)`: the same walk over messages.
 * - `webhook_messages (event_id)`: deleting an event checks that no message refers to it (the
 *   foreign key's own check, and the trim's); without it each check reads every message.
 */
export class Migration20261207030000_retention extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index events_occurred_at_id_index on events (occurred_at, id)');
    this.addSql('drop index events_occurred_at_index');
    this.addSql('create index webhook_messages_created_at_id_index on webhook_messages (created_at, id)');
    this.addSql('create index webhook_messages_event_id_index on webhook_messages (event_id)');
  }
}
