/**
 * The license status rule, in one place and pure (as machines/heartbeat.ts is for heartbeats):
 * what a license is at an instant, what it may still do by its policy's expiration strategy, and
 * the refusal that goes with what it may not. Reads, validation, authentication of license keys
 * and the machine operations all ask here.
 */
import { LicenseExpired, LicenseSuspended } from '../core/errors.ts';
import { type Sql, sql } from '../db/sql.ts';
import type { ExpirationStrategy } from '../policies/policy.entity.ts';
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

/**
 * What a license key does beyond validation, which every license may do (and which tells what
 * the others would be refused with): `activate` a machine, send a machine's `heartbeat`,
 * `deactivate` one of its machines, `checkOut` a machine or license file (by key or by API key),
 * or `use` the key for any other operation.
 */
export type LicenseAction = 'activate' | 'heartbeat' | 'deactivate' | 'checkOut' | 'use';

/**
 * What an expired license may still do, by its policy's expiration strategy. No strategy lets it
 * activate: a new machine is a new use of a term that is over. `RESTRICT_ACCESS` is the rule
 * from before strategies existed (machines cannot be kept alive, but can be let go). A file is
 * offline access ahead of time, so it goes where heartbeats go: only `MAINTAIN_ACCESS` keeps
 * issuing them, and the file carries the past expiry for the software to judge.
 */
const EXPIRED_MAY: Record<ExpirationStrategy, ReadonlySet<LicenseAction>> = {
  RESTRICT_ACCESS: new Set(['deactivate', 'use']),
  MAINTAIN_ACCESS: new Set(['heartbeat', 'deactivate', 'checkOut', 'use']),
  REVOKE_ACCESS: new Set(),
};

/** A suspension stops what keeps machines running; letting one go stays possible. */
const SUSPENDED_MAY: ReadonlySet<LicenseAction> = new Set(['deactivate', 'use']);

/** Why the license may not do `action` at `now` under its policy's expiration strategy, or null when it may. */
export function refusalOf(
  license: Pick<License, 'suspendedAt' | 'expiresAt'>,
  strategy: ExpirationStrategy,
  action: LicenseAction,
  now: Date,
): LicenseSuspended | LicenseExpired | null {
  const status = licenseStatus(license, now);
  if (status === 'SUSPENDED' && SUSPENDED_MAY.has(action)) return null;
  if (status === 'EXPIRED' && EXPIRED_MAY[strategy].has(action)) return null;
  return refusalFor(license, status);
}

/**
 * Whether the answer to `action` needs the policy's expiration strategy: only an expired license's
 * does, so the hot paths of a live license never read it.
 */
export function strategyMatters(license: Pick<License, 'suspendedAt' | 'expiresAt'>, now: Date): boolean {
  return licenseStatus(license, now) === 'EXPIRED';
}

/**
 * Validation's verdict from the status alone, or null when the license is usable and the other
 * checks decide. An expired license under `MAINTAIN_ACCESS` is usable here: its `EXPIRED` is a
 * warning that the other refusals outrank (the order in LicenseValidationCode).
 */
export function validationRefusal(
  status: LicenseStatus,
  strategy: ExpirationStrategy,
): { code: 'SUSPENDED' | 'EXPIRED'; valid: false } | null {
  if (status === 'SUSPENDED') return { code: 'SUSPENDED', valid: false };
  if (status === 'EXPIRED' && strategy !== 'MAINTAIN_ACCESS') return { code: 'EXPIRED', valid: false };
  return null;
}

/** `licenseStatus(…)` for PostgreSQL, over a license row aliased `l`: for the events' objects. */
export function licenseStatusSql(l: string, now: Date): Sql {
  return sql`(case when ${sql.raw(l)}.suspended_at is not null then 'SUSPENDED'
                   when ${sql.raw(l)}.expires_at <= ${now} then 'EXPIRED'
                   else 'ACTIVE' end)`;
}
