import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { InvalidInput, WebhookDeliveryNotFound, WebhookEndpointNotFound, WebhookUrlRefused } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import type { Page, PageQuery } from '../core/pagination.ts';
import { SecretRing } from '../core/sealing.ts';
import { Checks } from '../core/validation.ts';
import { keysetPage } from '../db/keyset.ts';
import { execute, type Sql, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { isEventType } from '../events/types.ts';
import { type AddressPolicy, refusedOnSave } from './address.ts';
import {
  toWebhookAttemptRecord,
  type WebhookAttemptRecord,
  webhookAttemptRecordColumns,
  webhookIdOf,
} from './attempt-record.ts';
import {
  toWebhookEndpointRecord,
  type WebhookEndpointRecord,
  type WebhookEndpointRecordRow,
  webhookEndpointRecordColumns,
} from './endpoint-record.ts';
import { openEndpointSecrets, sealWebhookSecret, storedSecretColumns } from './secrets.ts';
import { generateSigningSecret } from './signing.ts';

/** How long a rotated-out secret still signs deliveries, so receivers can switch without a gap. */
export const SECRET_GRACE_MS = 24 * 3600 * 1000;

/** The body type of a test message: not an event of the log. */
export const TEST_MESSAGE_TYPE = 'webhook-endpoint.test';

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

export class WebhookEndpointsService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  /** Who asks: a test message names them as its actor, as an event would. */
  readonly #actor: Actor | null;
  readonly #policy: AddressPolicy;
  readonly #secrets: SecretRing | undefined;

  /** `secrets`: the server secret ring, which seals the endpoints' signing secrets. */
  constructor(
    em: EntityManager,
    clock: Clock,
    actor: Actor | null,
    policy: AddressPolicy,
    secrets?: string | SecretRing,
  ) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#policy = policy;
    this.#secrets = secrets === undefined ? undefined : SecretRing.of(secrets);
  }

  #ring(): SecretRing {
    // A wiring fault, not a client's: every entry point passes the secret it opened the database with.
    if (this.#secrets === undefined)
      throw new Error('webhook endpoints: no server secret to seal a signing secret with');
    return this.#secrets;
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
    const id = uuidv7(now.getTime());
    const ring = this.#ring();
    const [row] = await execute<WebhookEndpointRecordRow[]>(
      this.#em,
      sql`insert into webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, secret_sealed, secret_id, created_at, updated_at)
          values (${id}, ${input.url}, ${input.description ?? null}, ${eventTypesValue(input.eventTypes)},
                  ${enabled}, ${enabled ? null : 'MANUAL'}, ${sealWebhookSecret(secret, id, ring)}, ${ring.current.id}, ${now}, ${now})
          returning ${webhookEndpointRecordColumns}`,
    );
    return { endpoint: toWebhookEndpointRecord(row!), secret };
  }

  async list(query: PageQuery): Promise<Page<WebhookEndpointRecord>> {
    return keysetPage(
      this.#em,
      {
        select: sql`select ${webhookEndpointRecordColumns} from webhook_endpoints`,
        where: [sql`deleted_at is null`],
        key: 'id',
        map: toWebhookEndpointRecord,
      },
      query,
    );
  }

  async get(id: string): Promise<WebhookEndpointRecord> {
    const [row] = isUuid(id)
      ? await execute<WebhookEndpointRecordRow[]>(
          this.#em,
          sql`select ${webhookEndpointRecordColumns} from webhook_endpoints where id = ${id} and deleted_at is null`,
        )
      : [];
    if (!row) throw new WebhookEndpointNotFound(id);
    return toWebhookEndpointRecord(row);
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
      ? await execute<WebhookEndpointRecordRow[]>(
          this.#em,
          sql`update webhook_endpoints set ${sql.join(sets, ', ')} where id = ${id} and deleted_at is null returning ${webhookEndpointRecordColumns}`,
        )
      : [];
    if (!row) throw new WebhookEndpointNotFound(id);
    return toWebhookEndpointRecord(row);
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

  /**
   * A new secret; the old one keeps signing beside it for SECRET_GRACE_MS. The old one is opened
   * and sealed again beside the new one, under the current server secret, with the row locked so
   * that two rotations at once each keep the secret the other replaced.
   */
  async rotateSecret(id: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    if (!isUuid(id)) throw new WebhookEndpointNotFound(id);
    const ring = this.#ring();
    const secret = generateSigningSecret();
    const now = this.#clock.now();
    const row = await this.#em.transactional(async (tx) => {
      const [stored] = await execute<Parameters<typeof openEndpointSecrets>[0][]>(
        tx,
        sql`select ${storedSecretColumns} from webhook_endpoints w where w.id = ${id} and w.deleted_at is null for update`,
      );
      if (!stored) throw new WebhookEndpointNotFound(id);
      const replaced = openEndpointSecrets(stored, ring).secret;
      const [updated] = await execute<WebhookEndpointRecordRow[]>(
        tx,
        sql`update webhook_endpoints
               set previous_secret_sealed = ${sealWebhookSecret(replaced, id, ring)},
                   previous_secret_expires_at = ${new Date(now.getTime() + SECRET_GRACE_MS)},
                   secret_sealed = ${sealWebhookSecret(secret, id, ring)}, secret_id = ${ring.current.id},
                   secret = null, previous_secret = null, updated_at = ${now}
             where id = ${id}
         returning ${webhookEndpointRecordColumns}`,
      );
      return updated!;
    });
    return { endpoint: toWebhookEndpointRecord(row), secret };
  }

  /** Every attempt at delivering to the endpoint, oldest first. */
  async deliveries(id: string, query: PageQuery): Promise<Page<WebhookAttemptRecord>> {
    await this.get(id);
    return keysetPage(
      this.#em,
      {
        select: sql`select ${webhookAttemptRecordColumns} from webhook_attempts a join webhook_messages m on m.id = a.message_id`,
        where: [sql`a.endpoint_id = ${id}`],
        key: 'a.id',
        map: toWebhookAttemptRecord,
      },
      query,
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
      actor: this.#actor,
      data: { webhookEndpointId: endpoint.id, message: 'A test delivery from Licentric.' },
    });
    await execute(
      this.#em,
      sql`insert into webhook_messages (id, endpoint_id, event_id, type, payload, created_at, wanted_at)
          values (${messageId}, ${endpoint.id}, null, ${TEST_MESSAGE_TYPE}, ${payload}, ${now}, ${now})`,
    );
    return { webhookId: webhookIdOf(messageId), type: TEST_MESSAGE_TYPE, queuedAt: now };
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
