import { asDate, maybeDate, sql } from '../db/sql.ts';

/** A webhook endpoint as the API shows it: never its secrets. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[] | null;
  enabled: boolean;
  disabledReason: 'MANUAL' | 'FAILING' | null;
  consecutiveFailures: number;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The columns `toWebhookEndpointRecord` reads, from `webhook_endpoints`. */
export const webhookEndpointRecordColumns = sql`id, url, description, event_types, enabled, disabled_reason,
  consecutive_failures, previous_secret_expires_at, created_at, updated_at`;

export interface WebhookEndpointRecordRow {
  id: string;
  url: string;
  description: string | null;
  event_types: string[] | null;
  enabled: boolean;
  disabled_reason: string | null;
  consecutive_failures: number;
  previous_secret_expires_at: unknown;
  created_at: unknown;
  updated_at: unknown;
}

export function toWebhookEndpointRecord(row: WebhookEndpointRecordRow): WebhookEndpointRecord {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    enabled: row.enabled,
    disabledReason: row.disabled_reason as WebhookEndpointRecord['disabledReason'],
    consecutiveFailures: row.consecutive_failures,
    previousSecretExpiresAt: maybeDate(row.previous_secret_expires_at),
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}
