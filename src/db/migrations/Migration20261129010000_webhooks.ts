import { Migration } from '@mikro-orm/migrations';

/**
 * Webhook endpoints, the messages each receives (one per event, or a test, identified by the
 * `webhook-id` every attempt repeats, with the exact body every attempt sends) and every attempt
 * at sending one. `wanted_at` says a message wants an attempt from then on (first delivery,
 * retry, redelivery); the relay turns it into a job. `events.relayed_at`
 * marks the events already fanned out to the endpoints: the relay claims unrelayed ones with
 * SKIP LOCKED, which — unlike a cursor over the identity — cannot skip an event whose
 * transaction commits after a later one's. Events recorded before webhooks existed are history.
 * The job queue itself is pg-boss's, in its own schema.
 */
export class Migration20261129010000_webhooks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table webhook_endpoints (
        id uuid primary key,
        url text not null,
        description text null,
        event_types text[] null,
        enabled boolean not null,
        disabled_reason text null check (disabled_reason in ('MANUAL', 'FAILING')),
        secret text not null,
        previous_secret text null,
        previous_secret_expires_at timestamptz(3) null,
        consecutive_failures integer not null default 0,
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null,
        deleted_at timestamptz(3) null
      )`);
    this.addSql(`
      create table webhook_messages (
        id uuid primary key,
        endpoint_id uuid not null references webhook_endpoints (id),
        event_id bigint null references events (id),
        type text not null,
        payload text not null,
        created_at timestamptz(3) not null,
        attempts integer not null default 0,
        wanted_at timestamptz(3) null
      )`);
    this.addSql('create index webhook_messages_endpoint_id_index on webhook_messages (endpoint_id)');
    // What the relay hands to the job queue: messages an attempt is wanted for (new, retry, redelivery).
    this.addSql(
      'create index webhook_messages_wanted_index on webhook_messages (wanted_at) where wanted_at is not null',
    );
    this.addSql(`
      create table webhook_attempts (
        id uuid primary key,
        message_id uuid not null references webhook_messages (id),
        endpoint_id uuid not null references webhook_endpoints (id),
        attempt integer not null,
        attempted_at timestamptz(3) not null,
        succeeded boolean not null,
        status_code integer null,
        latency_ms integer not null,
        error text null,
        response_excerpt text null,
        next_attempt_at timestamptz(3) null,
        unique (message_id, attempt)
      )`);
    this.addSql('create index webhook_attempts_endpoint_id_id_index on webhook_attempts (endpoint_id, id)');
    this.addSql('alter table events add column relayed_at timestamptz(3) null');
    this.addSql('update events set relayed_at = occurred_at');
    this.addSql('create index events_unrelayed_index on events (id) where relayed_at is null');
  }
}
