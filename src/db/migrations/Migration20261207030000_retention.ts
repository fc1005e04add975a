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
 * - `webhook_messages.queued_at`: when the relay last turned the message into a delivery job. A
 *   queued job leaves no other trace in our tables (`wanted_at` is cleared as it is queued), and
 *   the trim must not delete a message whose redelivery is queued but not yet attempted.
 */
export class Migration20261207030000_retention extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index events_occurred_at_id_index on events (occurred_at, id)');
    this.addSql('drop index events_occurred_at_index');
    this.addSql('create index webhook_messages_created_at_id_index on webhook_messages (created_at, id)');
    this.addSql('create index webhook_messages_event_id_index on webhook_messages (event_id)');
    this.addSql('alter table webhook_messages add column queued_at timestamptz(3) null');
  }
}
