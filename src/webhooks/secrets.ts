import type { EntityManager } from '@mikro-orm/postgresql';
import { deriveKey, open, type SecretRing, seal } from '../core/sealing.ts';
import { execute, sql } from '../db/sql.ts';

/**
 * Webhook signing secrets at rest: sealed with AES-256-GCM under a key derived from the server
 * secret (its own HKDF label), bound to the endpoint's id. Whoever holds a database dump can
 * neither read them nor forge a webhook to the vendor's receiver; a sealed secret copied onto
 * another endpoint does not open.
 */

const HKDF_INFO = 'licentric webhook secret v1';

export function sealWebhookSecret(plain: string, endpointId: string, ring: SecretRing): Buffer {
  return seal(deriveKey(ring.current.secret, HKDF_INFO), Buffer.from(plain, 'utf8'), endpointId);
}

/**
 * The secret of a row, sealed (under the secret `secretId` names) or, for a row written before
 * secrets were sealed, plain. An id not in the ring (or none) is tried with every secret of it.
 */
export function openWebhookSecret(
  stored: { sealed: Buffer | null; plain: string | null },
  endpointId: string,
  secretId: string | null,
  ring: SecretRing,
): string | null {
  if (stored.sealed === null) return stored.plain;
  const named = secretId === null ? undefined : ring.byId(secretId);
  const candidates = named ? [named] : ring.all;
  for (const { secret } of candidates) {
    try {
      return open(deriveKey(secret, HKDF_INFO), stored.sealed, endpointId).toString('utf8');
    } catch {
      // The next secret, then.
    }
  }
  throw new Error(`the secret of webhook endpoint ${endpointId} opens with no secret of the ring`);
}

interface StoredSecrets {
  id: string;
  secret: string | null;
  previous_secret: string | null;
  secret_sealed: Buffer | null;
  previous_secret_sealed: Buffer | null;
  secret_id: string | null;
}

/** The columns `openEndpointSecrets` reads, from `webhook_endpoints` aliased `w`. */
export const storedSecretColumns = sql`w.id, w.secret, w.previous_secret, w.secret_sealed, w.previous_secret_sealed, w.secret_id`;

/** An endpoint's current and previous signing secrets, opened. */
export function openEndpointSecrets(
  row: StoredSecrets,
  ring: SecretRing,
): { secret: string; previousSecret: string | null } {
  return {
    secret: openWebhookSecret({ sealed: row.secret_sealed, plain: row.secret }, row.id, row.secret_id, ring)!,
    previousSecret: openWebhookSecret(
      { sealed: row.previous_secret_sealed, plain: row.previous_secret },
      row.id,
      row.secret_id,
      ring,
    ),
  };
}

/**
 * Seals every endpoint's secrets that are plain (from before the upgrade, or written by an older
 * replica) or sealed under a secret other than the current one, and clears the plain columns.
 * Endpoints are few; the rows are locked while they are moved, so a concurrent rotation of an
 * endpoint's secret waits rather than being overwritten. Returns how many endpoints it moved.
 */
export async function resealWebhookSecrets(em: EntityManager, ring: SecretRing): Promise<number> {
  return em.transactional(async (tx) => {
    const rows = await execute<StoredSecrets[]>(
      tx,
      sql`select ${storedSecretColumns} from webhook_endpoints w
           where w.secret is not null or w.previous_secret is not null or w.secret_id is distinct from ${ring.current.id}
           order by w.id for update`,
    );
    let moved = 0;
    for (const row of rows) {
      let opened: { secret: string; previousSecret: string | null };
      try {
        opened = openEndpointSecrets(row, ring);
      } catch {
        continue; // Its secret is not in the ring: `secrets rotate-check` shows it.
      }
      await execute(
        tx,
        sql`update webhook_endpoints
               set secret_sealed = ${sealWebhookSecret(opened.secret, row.id, ring)},
                   previous_secret_sealed = ${opened.previousSecret === null ? null : sealWebhookSecret(opened.previousSecret, row.id, ring)},
                   secret_id = ${ring.current.id}, secret = null, previous_secret = null
             where id = ${row.id}`,
      );
      moved += 1;
    }
    return moved;
  });
}
