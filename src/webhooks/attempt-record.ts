import { asDate, maybeDate, sql } from '../db/sql.ts';

/** An attempt at delivering a message to an endpoint, as the API shows it (a delivery). */
export interface WebhookAttemptRecord {
  id: string;
  webhookId: string;
  eventId: string | null;
  type: string;
  attempt: number;
  attemptedAt: Date;
  succeeded: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
  nextAttemptAt: Date | null;
}

/**
 * The columns `toWebhookAttemptRecord` reads, over an attempt aliased `a` and its message
 * aliased `m`.
 */
export const webhookAttemptRecordColumns = sql`a.id, a.message_id, m.event_id, m.type, a.attempt, a.attempted_at,
  a.succeeded, a.status_code, a.latency_ms, a.error, a.response_excerpt, a.next_attempt_at`;

export interface WebhookAttemptRecordRow {
  id: string;
  message_id: string;
  /** A bigint, which the driver hands over as text. */
  event_id: string | number | bigint | null;
  type: string;
  attempt: number;
  attempted_at: unknown;
  succeeded: boolean;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_excerpt: string | null;
  next_attempt_at: unknown;
}

export function toWebhookAttemptRecord(row: WebhookAttemptRecordRow): WebhookAttemptRecord {
  return {
    id: row.id,
    webhookId: webhookIdOf(row.message_id),
    eventId: row.event_id === null ? null : String(row.event_id),
    type: row.type,
    attempt: row.attempt,
    attemptedAt: asDate(row.attempted_at),
    succeeded: row.succeeded,
    statusCode: row.status_code,
    latencyMs: row.latency_ms,
    error: row.error,
    responseExcerpt: row.response_excerpt,
    nextAttemptAt: maybeDate(row.next_attempt_at),
  };
}

/** The `webhook-id` of a message: its id, in the form the specification's examples use. */
export const webhookIdOf = (messageId: string): string => `msg_${messageId}`;
