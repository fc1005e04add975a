import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { InvalidInput, WebhookDeliveryNotFound, WebhookEndpointNotFound, WebhookUrlRefused } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { MAX_PAGE_SIZE, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks } from '../core/validation.ts';
import { execute, type Sql, sql } from '../db/sql.ts';
import { isEventType } from '../events/types.ts';
import { type AddressPolicy, refusedOnSave } from './address.ts';
import { generateSigningSecret } from './signing.ts';

/** How long a rotated-out secret still signs deliveries, so receivers can switch without a gap. */
export const SECRET_GRACE_MS = 24 * 3600 * 1000;

/** The body type of a test message: not an event of the log. */
export const TEST_MESSAGE_TYPE = 'webhook-endpoint.test';

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

export interface WebhookEndpointInput {
  url?: string;
  description?: string | null;
  eventTypes?: string[] | null;
  enabled?: boolean;
}

/** A message queued for an attempt: its `webhook-id` and type. */
export interface QueuedMessage {
  webhookId: string;
  type: string;
  queuedAt: Date;
}

const ENDPOINT_COLUMNS = sql`id, url, description, event_types as "eventTypes", enabled, disabled_reason as "disabledReason",
  consecutive_failures as "consecutiveFailures", previous_secret_expires_at as "previousSecretExpiresAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

const dates = <T extends object>(row: T, keys: (keyof T)[]): T => {
  const copy = { ...row };
  for (const key of keys) if (copy[key] != null) copy[key] = new Date(copy[key] as string) as never;
  return copy;
};
const toEndpoint = (row: WebhookEndpointRecord) => dates(row, ['previousSecretExpiresAt', 'createdAt', 'updatedAt']);
const toAttempt = (row: WebhookAttemptRecord) => dates(row, ['attemptedAt', 'nextAttemptAt']);

/** The `webhook-id` of a message: its id, in the form the specification's examples use. */
export const webhookIdOf = (messageId: string): string => `msg_${messageId}`;

export class WebhookEndpointsService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #policy: AddressPolicy;

  constructor(em: EntityManager, clock: Clock, policy: AddressPolicy) {
    this.#em = em;
    this.#clock = clock;
    this.#policy = policy;
  }

  async #check(input: WebhookEndpointInput): Promise<void> {
    const checks = new Checks();
    checks.text('/url', input.url, { min: 1, max: 2048 });
    checks.text('/description', input.description, { max: 255 });
    input.eventTypes?.forEach((type, i) => {
      if (!isEventType(type)) checks.fail(`/eventTypes/${i}`, `is not an event type: "${type}"`);
    });
    checks.throwIfAny();
    // Well-formed input that a rule refuses, as an unknown policy is: 422, not 400.
    const refusal = input.url === undefined ? null : await refusedOnSave(input.url, this.#policy);
    if (refusal !== null) throw new WebhookUrlRefused(input.url!, refusal);
  }

  /** Creates an endpoint with a new signing secret, returned this once. */
  async create(
    input: WebhookEndpointInput & { url: string },
  ): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    await this.#check(input);
    const secret = generateSigningSecret();
    const now = this.#clock.now();
    const enabled = input.enabled ?? true;
    const [row] = await execute<WebhookEndpointRecord[]>(
      this.#em,
      sql`insert into webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, secret, created_at, updated_at)
          values (${uuidv7(now.getTime())}, ${input.url}, ${input.description ?? null}, ${eventTypesValue(input.eventTypes)},
                  ${enabled}, ${enabled ? null : 'MANUAL'}, ${secret}, ${now}, ${now})
          returning ${ENDPOINT_COLUMNS}`,
    );
    return { endpoint: toEndpoint(row!), secret };
  }

  async list(query: PageQuery): Promise<Page<WebhookEndpointRecord>> {
    return this.#page(
      sql`select ${ENDPOINT_COLUMNS} from webhook_endpoints where deleted_at is null`,
      query,
      toEndpoint,
    );
  }

  async get(id: string): Promise<WebhookEndpointRecord> {
    const [row] = isUuid(id)
      ? await execute<WebhookEndpointRecord[]>(
          this.#em,
          sql`select ${ENDPOINT_COLUMNS} from webhook_endpoints where id = ${id} and deleted_at is null`,
        )
      : [];
    if (!row) throw new WebhookEndpointNotFound(id);
    return toEndpoint(row);
  }

  /**
   * Applies a merge patch. Enabling an endpoint (again) clears its failure count; disabling it
   * by hand records why, as the failing-endpoint rule records its own reason.
   */
  async update(id: string, patch: WebhookEndpointInput): Promise<WebhookEndpointRecord> {
    await this.#check(patch);
    if (patch.url === null) throw new InvalidInput([{ pointer: '/url', message: 'must be a URL' }]);
    const sets: Sql[] = [sql`updated_at = ${this.#clock.now()}`];
    if (patch.url !== undefined) sets.push(sql`url = ${patch.url}`);
    if (patch.description !== undefined) sets.push(sql`description = ${patch.description}`);
    if (patch.eventTypes !== undefined) sets.push(sql`event_types = ${eventTypesValue(patch.eventTypes)}`);
    if (patch.enabled === true) sets.push(sql`enabled = true, disabled_reason = null, consecutive_failures = 0`);
    if (patch.enabled === false)
      sets.push(sql`enabled = false, disabled_reason = case when enabled then 'MANUAL' else disabled_reason end`);
    const [row] = isUuid(id)
      ? await execute<WebhookEndpointRecord[]>(
          this.#em,
          sql`update webhook_endpoints set ${sql.join(sets, ', ')} where id = ${id} and deleted_at is null returning ${ENDPOINT_COLUMNS}`,
        )
      : [];
    if (!row) throw new WebhookEndpointNotFound(id);
    return toEndpoint(row);
  }

  /** Deletes an endpoint: nothing more is sent to it; its deliveries stay in the database. */
  async delete(id: string): Promise<void> {
    const now = this.#clock.now();
    const rows = isUuid(id)
      ? await execute<{ id: string }[]>(
          this.#em,
          sql`update webhook_endpoints set deleted_at = ${now}, updated_at = ${now}, enabled = false where id = ${id} and deleted_at is null returning id`,
        )
      : [];
    if (rows.length === 0) throw new WebhookEndpointNotFound(id);
  }

  /** A new secret; the old one keeps signing beside it for SECRET_GRACE_MS. */
  async rotateSecret(id: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const secret = generateSigningSecret();
    const now = this.#clock.now();
    const [row] = isUuid(id)
      ? await execute<WebhookEndpointRecord[]>(
          this.#em,
          sql`update webhook_endpoints
                 set previous_secret = secret, previous_secret_expires_at = ${new Date(now.getTime() + SECRET_GRACE_MS)},
                     secret = ${secret}, updated_at = ${now}
               where id = ${id} and deleted_at is null
           returning ${ENDPOINT_COLUMNS}`,
        )
      : [];
    if (!row) throw new WebhookEndpointNotFound(id);
    return { endpoint: toEndpoint(row), secret };
  }

  /** Every attempt at delivering to the endpoint, oldest first. */
  async deliveries(id: string, query: PageQuery): Promise<Page<WebhookAttemptRecord>> {
    await this.get(id);
    return this.#page(
      sql`select a.id, 'msg_' || a.message_id as "webhookId", m.event_id::text as "eventId", m.type, a.attempt,
                 a.attempted_at as "attemptedAt", a.succeeded, a.status_code as "statusCode", a.latency_ms as "latencyMs",
                 a.error, a.response_excerpt as "responseExcerpt", a.next_attempt_at as "nextAttemptAt"
            from webhook_attempts a join webhook_messages m on m.id = a.message_id
           where a.endpoint_id = ${id}`,
      query,
      toAttempt,
      'a.id',
    );
  }

  /** Sends the message of a delivery again, with the same `webhook-id` and body. */
  async redeliver(id: string, deliveryId: string): Promise<QueuedMessage> {
    await this.get(id);
    const now = this.#clock.now();
    const [row] = isUuid(deliveryId)
      ? await execute<{ id: string; type: string }[]>(
          this.#em,
          sql`update webhook_messages m set wanted_at = ${now}
                from webhook_attempts a
               where a.id = ${deliveryId} and a.endpoint_id = ${id} and m.id = a.message_id
           returning m.id, m.type`,
        )
      : [];
    if (!row) throw new WebhookDeliveryNotFound(deliveryId);
    return { webhookId: webhookIdOf(row.id), type: row.type, queuedAt: now };
  }

  /** Queues a test message to the endpoint, whatever event types it subscribes to. */
  async sendTest(id: string): Promise<QueuedMessage> {
    const endpoint = await this.get(id);
    const now = this.#clock.now();
    const messageId = crypto.randomUUID();
    const payload = JSON.stringify({
      type: TEST_MESSAGE_TYPE,
      timestamp: now.toISOString(),
      data: { webhookEndpointId: endpoint.id, message: 'A test delivery from Licentric.' },
    });
    await execute(
      this.#em,
      sql`insert into webhook_messages (id, endpoint_id, event_id, type, payload, created_at, wanted_at)
          values (${messageId}, ${endpoint.id}, null, ${TEST_MESSAGE_TYPE}, ${payload}, ${now}, ${now})`,
    );
    return { webhookId: webhookIdOf(messageId), type: TEST_MESSAGE_TYPE, queuedAt: now };
  }

  async #page<T extends { id: string }>(
    select: Sql,
    query: PageQuery,
    map: (row: T) => T,
    idColumn = 'id',
  ): Promise<Page<T>> {
    const limit = Math.min(Math.max(Math.trunc(query.limit), 1), MAX_PAGE_SIZE);
    const after =
      query.cursor !== undefined && isUuid(query.cursor) ? sql` and ${sql.raw(idColumn)} > ${query.cursor}` : sql``;
    const rows = await execute<T[]>(this.#em, sql`${select}${after} order by ${sql.raw(idColumn)} limit ${limit + 1}`);
    const items = rows.slice(0, limit).map(map);
    return { items, nextCursor: items.at(-1)?.id ?? null, hasMore: rows.length > limit };
  }
}

/** A text[] value, or null for "every event type". */
function eventTypesValue(types: string[] | null | undefined): Sql {
  if (types == null) return sql`null::text[]`;
  return sql`array[${sql.join(
    [...new Set(types)].map((type) => sql`${type}::text`),
    ', ',
  )}]::text[]`;
}
