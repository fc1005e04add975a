/**
 * The license status rule, in one place and pure (as machines/heartbeat.ts is for heartbeats):
 * what a license is at an instant, and the refusal that goes with a status that may not
 * activate or keep machines alive. Reads, validation and the machine operations all ask here.
 */
import { LicenseExpired, LicenseSuspended } from '../core/errors.ts';
import { type Sql, sql } from '../db/sql.ts';
import type { License } from './license.entity.ts';

export const LICENSE_STATUSES = ['ACTIVE', 'SUSPENDED', 'EXPIRED'] as const;
export type LicenseStatus = (typeof LICENSE_STATUSES)[number];

/** Status at `now`: suspension first, then expiry (a license is expired from its expiry instant). */
export function licenseStatus(license: Pick<License, 'suspendedAt' | 'expiresAt'>, now: Date): LicenseStatus {
  if (license.suspendedAt != null) return 'SUSPENDED';
  if (license.expiresAt != null && license.expiresAt.getTime() <= now.getTime()) return 'EXPIRED';
  return 'ACTIVE';
}

/** The refusal for a license of `status`, or null for an active one. */
export function refusalFor(
  license: Pick<License, 'expiresAt'>,
  status: LicenseStatus,
): LicenseSuspended | LicenseExpired | null {
  switch (status) {
    case 'SUSPENDED':
      return new LicenseSuspended();
    case 'EXPIRED':
      return new LicenseExpired(license.expiresAt!);
    case 'ACTIVE':
      return null;
  }
}

/** Why a license may not activate or keep machines alive at `now`, or null when it may. */
export function licenseUnusable(
  license: Pick<License, 'suspendedAt' | 'expiresAt'>,
  now: Date,
): LicenseSuspended | LicenseExpired | null {
  return refusalFor(license, licenseStatus(license, now));
}

export function assertLicenseUsable(license: Pick<License, 'suspendedAt' | 'expiresAt'>, now: Date): void {
  const refusal = licenseUnusable(license, now);
  if (refusal !== null) throw refusal;
}

/** `licenseStatus(…)` for PostgreSQL, over a license row aliased `l`: for the events' objects. */
export function licenseStatusSql(l: string, now: Date): Sql {
  return sql`(case when ${sql.raw(l)}.suspended_at is not null then 'SUSPENDED'
                   when ${sql.raw(l)}.expires_at <= ${now} then 'EXPIRED'
                   else 'ACTIVE' end)`;
}
