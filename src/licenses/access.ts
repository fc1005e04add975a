import type { EntityManager } from '@mikro-orm/postgresql';
import { LicenseNotFound } from '../core/errors.ts';
import { Lazy } from '../core/lazy.ts';
import { execute, sql } from '../db/sql.ts';
import type { ExpirationStrategy } from '../policies/policy.entity.ts';
import type { LicenseRecord } from './license-record.ts';
import { type LicenseAction, refusalOf, strategyMatters } from './status.ts';

/**
 * Why the license may not do `action` now, or null. The policy's expiration strategy is read only
 * for an expired license (strategyMatters): a live license's heartbeat or deactivation costs no
 * statement more than before strategies existed, and no EntityManager: a lazy one (`Lazy`) is
 * forked only then.
 */
export async function licenseRefusal(
  em: EntityManager | Lazy<EntityManager>,
  license: Pick<LicenseRecord, 'id' | 'suspendedAt' | 'expiresAt'>,
  action: LicenseAction,
  now: Date,
): Promise<Error | null> {
  const known = immediateRefusal(license, action, now);
  if (known !== undefined) return known;
  const [row] = await execute<{ expiration_strategy: ExpirationStrategy }[]>(
    Lazy.from(em).value,
    sql`select p.expiration_strategy from licenses l join policies p on p.id = l.policy_id where l.id = ${license.id}`,
  );
  if (!row) throw new LicenseNotFound(license.id);
  return refusalOf(license, row.expiration_strategy, action, now);
}

/**
 * `licenseRefusal` when it needs no statement (the license is not expired), else undefined: the
 * hot requests check a live license without a promise or a turn of the event loop.
 */
export function immediateRefusal(
  license: Pick<LicenseRecord, 'suspendedAt' | 'expiresAt'>,
  action: LicenseAction,
  now: Date,
): Error | null | undefined {
  return strategyMatters(license, now) ? undefined : refusalOf(license, 'RESTRICT_ACCESS', action, now);
}
