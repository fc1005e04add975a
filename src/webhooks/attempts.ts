import type { EntityManager } from '@mikro-orm/postgresql';
import { uuidv7 } from '../core/ids.ts';
import type { SecretRing } from '../core/sealing.ts';
import type { Orm } from '../db/orm.ts';
import { execute, sql } from '../db/sql.ts';
import { WORKER_ACTOR } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import type { Logger } from '../log.ts';
import { webhookEndpointSubject } from './events.ts';
import type { PostResult } from './post.ts';
import type { DeliveryJob } from './relay.ts';
import { openEndpointSecrets, storedSecretColumns } from './secrets.ts';

/** What an attempt sends, and where: a message of an enabled endpoint. */
export interface AttemptTarget {
  payload: string;
  attempts: number;
  endpoint_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
}

/**
 * The message and its endpoint with its secrets opened, or undefined when the message or
 * endpoint is gone or disabled.
 */
export async function attemptTarget(orm: Orm, messageId: string, ring: SecretRing): Promise<AttemptTarget | undefined> {
  const [row] = await execute<
    (Omit<AttemptTarget, 'secret' | 'previous_secret'> & Parameters<typeof openEndpointSecrets>[0])[]
  >(
    orm.em.fork(),
    sql`select m.payload, m.attempts, w.id as endpoint_id, w.url, w.previous_secret_expires_at, ${storedSecretColumns}
          from webhook_messages m join webhook_endpoints w on w.id = m.endpoint_id
         where m.id = ${messageId} and w.enabled and w.deleted_at is null`,
  );
  if (!row) return undefined;
  const { secret, previousSecret } = openEndpointSecrets(row, ring);
  return {
    payload: row.payload,
    attempts: row.attempts,
    endpoint_id: row.endpoint_id,
    url: row.url,
    secret,
    previous_secret: previousSecret,
    previous_secret_expires_at: row.previous_secret_expires_at,
  };
}

/**
 * Records one attempt in one transaction: the attempt row (its number unique per message), the
 * message's next wanted time, and the endpoint's run of failures, which past `threshold`
 * disables it.
 */
export async function recordAttempt(
  orm: Orm,
  log: Logger,
  attempt: {
    job: DeliveryJob;
    target: AttemptTarget;
    result: PostResult;
    succeeded: boolean;
    now: Date;
    nextAttemptAt: Date | null;
  },
  threshold: number,
): Promise<void> {
  const { job, target, result, succeeded, now, nextAttemptAt } = attempt;
  await orm.em.fork().transactional(async (em) => {
    await execute(
      em,
      sql`insert into webhook_attempts (id, message_id, endpoint_id, attempt, attempted_at, succeeded, status_code, latency_ms, error, response_excerpt, next_attempt_at)
          values (${uuidv7(now.getTime())}, ${job.messageId}, ${target.endpoint_id}, ${job.attempt}, ${now}, ${succeeded},
                  ${result.statusCode}, ${result.latencyMs}, ${result.error}, ${result.excerpt}, ${nextAttemptAt})`,
    );
    await execute(
      em,
      sql`update webhook_messages set attempts = greatest(attempts, ${job.attempt}), wanted_at = coalesce(wanted_at, ${nextAttemptAt}::timestamptz)
           where id = ${job.messageId}`,
    );
    const [endpoint] = await execute<{ consecutive_failures: number; enabled: boolean }[]>(
      em,
      sql`update webhook_endpoints set consecutive_failures = case when ${succeeded} then 0 else consecutive_failures + 1 end
           where id = ${target.endpoint_id} returning consecutive_failures, enabled`,
    );
    if (!succeeded && endpoint!.enabled && endpoint!.consecutive_failures >= threshold)
      await disable(em, log, target.endpoint_id, now, threshold);
  });
}

/** Too many failures in a row: stop sending, and say so in the log of events. */
async function disable(
  em: EntityManager,
  log: Logger,
  endpointId: string,
  now: Date,
  threshold: number,
): Promise<void> {
  await execute(
    em,
    sql`update webhook_endpoints set enabled = false, disabled_reason = 'FAILING', updated_at = ${now} where id = ${endpointId}`,
  );
  await recordEvent(em, 'webhook-endpoint.disabled', webhookEndpointSubject(endpointId), now, WORKER_ACTOR);
  log.warn({ endpointId, failures: threshold }, 'webhook endpoint disabled after consecutive failures');
}
