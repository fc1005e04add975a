import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { LicenseExpired, LicenseNotFound, LicenseSuspended } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Checks, METADATA_MAX_BYTES } from '../core/validation.ts';
import { KeyHasher } from '../keys/hashing.ts';
import { generateLicenseKey, parseLicenseKey } from '../keys/license-key.ts';
import { PoliciesService } from '../policies/policies.service.ts';
import { License } from './license.entity.ts';

export interface CreateLicenseInput {
  policyId: string;
  name?: string | null;
  expiresAt?: Date | null;
  metadata?: Record<string, unknown>;
}

export interface CreatedLicense {
  license: License;
  /** The plain key: shown once, never stored. */
  key: string;
}

export class LicensesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #hasher: KeyHasher;

  constructor(em: EntityManager, clock: Clock, hasher: KeyHasher) {
    this.#em = em;
    this.#clock = clock;
    this.#hasher = hasher;
  }

  async create(input: CreateLicenseInput): Promise<CreatedLicense> {
    const checks = new Checks();
    checks.text('/name', input.name, { min: 1, max: 255 });
    if (input.expiresAt && Number.isNaN(input.expiresAt.getTime())) checks.fail('/expiresAt', 'must be a date-time');
    checks.jsonSize('/metadata', input.metadata, METADATA_MAX_BYTES);
    checks.throwIfAny();

    const policy = await new PoliciesService(this.#em, this.#clock).get(input.policyId);
    const key = generateLicenseKey(policy.keyPrefix);
    const now = this.#clock.now();
    const license = this.#em.create(License, {
      id: uuidv7(),
      policy,
      keyHash: this.#hasher.hash('license-key', key),
      name: input.name ?? null,
      metadata: input.metadata ?? {},
      expiresAt: input.expiresAt ?? null,
      suspendedAt: null,
      createdAt: now,
      updatedAt: now,
    });
    await this.#em.flush();
    return { license, key };
  }

  async get(id: string): Promise<License> {
    const license = isUuid(id) ? await this.#em.findOne(License, { id }, { populate: ['policy'] }) : null;
    if (!license) throw new LicenseNotFound(id);
    return license;
  }

  /**
   * The license a presented key belongs to, with its policy, or null. A key that fails its
   * check character never reaches the database.
   */
  async authenticate(presented: string): Promise<License | null> {
    const canonical = parseLicenseKey(presented);
    if (canonical === null) return null;
    const hash = this.#hasher.hash('license-key', canonical);
    const license = await this.#em.findOne(License, { keyHash: hash }, { populate: ['policy'] });
    if (!license || !KeyHasher.equal(license.keyHash, hash)) return null;
    return license;
  }
}

/** Why a license may not activate or keep machines alive at `now`, or null when it may. */
export function licenseUnusable(license: License, now: Date): LicenseSuspended | LicenseExpired | null {
  if (license.suspendedAt != null) return new LicenseSuspended();
  if (license.expiresAt != null && license.expiresAt.getTime() <= now.getTime()) {
    return new LicenseExpired(license.expiresAt);
  }
  return null;
}

export function assertLicenseUsable(license: License, now: Date): void {
  const problem = licenseUnusable(license, now);
  if (problem !== null) throw problem;
}
