import type { Clock } from '../core/clock.ts';
import type { Orm } from '../db/orm.ts';
import { execute, sql } from '../db/sql.ts';
import { WORKER_ACTOR } from '../events/actor.ts';
import { ApiKeysService, type CreatedApiKey } from './api-keys.service.ts';
import type { KeyHasher } from './hashing.ts';

/** Fixed for this purpose: serialises first-start bootstraps of replicas starting together. */
const BOOTSTRAP_LOCK = 0x424f4f545354n; // "BOOTST"

/**
 * On an empty database, creates the first admin API key, so a fresh install can be used at all.
 * Returns it (with its token, to print once) or null when keys already exist. No request or
 * command made it, so its event is the server's own (`worker`).
 */
export async function createFirstAdminKey(orm: Orm, clock: Clock, hasher: KeyHasher): Promise<CreatedApiKey | null> {
  return orm.em.fork().transactional(async (em) => {
    await execute(em, sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK.toString()})`);
    const keys = new ApiKeysService(em, clock, WORKER_ACTOR, hasher);
    if (await keys.any()) return null;
    return keys.create({ name: 'admin (created on first start)', scopes: ['admin'] });
  });
}
