import { LockMode } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { PolicyInUse, PolicyNotFound, UnknownProduct } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import { execute, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from '../keys/license-key.ts';
import { ProductsService } from '../products/products.service.ts';
import { policySubject } from './events.ts';
import {
  type MachineUniquenessStrategy,
  OVERAGE_STRATEGIES,
  type OverageStrategy,
  pointlessOverage,
  UNIQUENESS_STRATEGIES,
} from './limits.ts';
import {
  CULL_STRATEGIES,
  EXPIRATION_BASES,
  EXPIRATION_STRATEGIES,
  type ExpirationBasis,
  type ExpirationStrategy,
  type HeartbeatCullStrategy,
  MATCHING_STRATEGIES,
  type MachineMatchingStrategy,
  Policy,
  PROCESS_LEASING_STRATEGIES,
  type ProcessLeasingStrategy,
  RENEWAL_BASES,
  type RenewalBasis,
} from './policy.entity.ts';

export interface PolicySettings {
  name: string;
  /** null: no limit. */
  maxMachines: number | null;
  keyPrefix: string;
  requireHeartbeat: boolean;
  heartbeatDuration: number;
  heartbeatCullStrategy: HeartbeatCullStrategy;
  heartbeatResurrectionWindow: number;
  // Limits and overage (issue 18).
  /** null: no limit. */
  maxCores: number | null;
  overageStrategy: OverageStrategy;
  machineUniquenessStrategy: MachineUniquenessStrategy;

  // Products (issue 18).
  /** null: no product. */
  productId: string | null;
  // Expiry, duration and renewal (issue 18).
  /** null: licenses do not expire by policy. */
  duration: number | null;
  expirationBasis: ExpirationBasis;
  expirationStrategy: ExpirationStrategy;
  renewalBasis: RenewalBasis;
  // Entitlements and machine matching (issue 18).
  machineMatchingStrategy: MachineMatchingStrategy;
  // Machine and license files (issue 19).
  checkOutTtl: number;
  allowNonExpiringFiles: boolean;

  // Processes: concurrent seats (issue 20).
  /** null: no limit. */
  maxProcesses: number | null;
  processLeasingStrategy: ProcessLeasingStrategy;
  processHeartbeatDuration: number;
  metadata: Record<string, unknown>;
}

export type CreatePolicyInput = Pick<PolicySettings, 'name'> & Partial<Omit<PolicySettings, 'name'>>;
export type UpdatePolicyInput = Partial<PolicySettings>;

export const POLICY_DEFAULTS = {
  maxMachines: null,
  keyPrefix: DEFAULT_KEY_PREFIX,
  requireHeartbeat: false,
  heartbeatDuration: 600,
  heartbeatCullStrategy: 'DEACTIVATE_DEAD',
  heartbeatResurrectionWindow: 0,
  // Limits and overage (issue 18).
  maxCores: null,
  overageStrategy: 'NO_OVERAGE',
  machineUniquenessStrategy: 'UNIQUE_PER_LICENSE',
  // Products (issue 18).
  productId: null,
  // Expiry, duration and renewal (issue 18).
  duration: null,
  expirationBasis: 'FROM_CREATION',
  expirationStrategy: 'RESTRICT_ACCESS',
  renewalBasis: 'FROM_NOW_IF_EXPIRED',
  // Entitlements and machine matching (issue 18).
  machineMatchingStrategy: 'MATCH_ANY',
  // Machine and license files (issue 19): Keygen's default of a month.
  checkOutTtl: 2_592_000,
  allowNonExpiringFiles: false,
  // Processes: concurrent seats (issue 20).
  maxProcesses: null,
  processLeasingStrategy: 'PER_MACHINE',
  processHeartbeatDuration: 600,
} as const satisfies Partial<PolicySettings>;

export const MIN_HEARTBEAT_DURATION = 60;
export const MAX_HEARTBEAT_SECONDS = 30 * 24 * 3600;
// Expiry, duration and renewal (issue 18): a minute to 50 years of 365.25 days, within int32.
export const MIN_POLICY_DURATION = 60;
export const MAX_POLICY_DURATION = 1_577_880_000;
// Machine and license files (issue 19): an hour (Keygen's least) to 10 years of 365 days.
export const MIN_CHECK_OUT_TTL = 3600;
export const MAX_CHECK_OUT_TTL = 315_360_000;

function oneOf(checks: Checks, pointer: string, value: string | undefined, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value)) checks.fail(pointer, `must be one of ${allowed.join(', ')}`);
}

function check(settings: Partial<PolicySettings>): void {
  const checks = new Checks();
  checks.text('/name', settings.name, { min: 1, max: 255 });
  checks.integer('/maxMachines', settings.maxMachines, { min: 1, max: 2_147_483_647 });
  if (settings.keyPrefix !== undefined && !KEY_PREFIX_PATTERN.test(settings.keyPrefix)) {
    checks.fail('/keyPrefix', 'must be 1–12 characters of A–Z and 0–9');
  }
  checks.integer('/heartbeatDuration', settings.heartbeatDuration, {
    min: MIN_HEARTBEAT_DURATION,
    max: MAX_HEARTBEAT_SECONDS,
  });
  checks.integer('/heartbeatResurrectionWindow', settings.heartbeatResurrectionWindow, {
    min: 0,
    max: MAX_HEARTBEAT_SECONDS,
  });
  oneOf(checks, '/heartbeatCullStrategy', settings.heartbeatCullStrategy, CULL_STRATEGIES);
  // Limits and overage (issue 18).
  checks.integer('/maxCores', settings.maxCores, { min: 1, max: 2_147_483_647 });
  oneOf(checks, '/overageStrategy', settings.overageStrategy, OVERAGE_STRATEGIES);
  oneOf(checks, '/machineUniquenessStrategy', settings.machineUniquenessStrategy, UNIQUENESS_STRATEGIES);
  // Expiry, duration and renewal (issue 18).
  checks.integer('/duration', settings.duration, { min: MIN_POLICY_DURATION, max: MAX_POLICY_DURATION });
  oneOf(checks, '/expirationBasis', settings.expirationBasis, EXPIRATION_BASES);
  oneOf(checks, '/expirationStrategy', settings.expirationStrategy, EXPIRATION_STRATEGIES);
  oneOf(checks, '/renewalBasis', settings.renewalBasis, RENEWAL_BASES);
  // Entitlements and machine matching (issue 18).
  oneOf(checks, '/machineMatchingStrategy', settings.machineMatchingStrategy, MATCHING_STRATEGIES);
  // Machine and license files (issue 19).
  checks.integer('/checkOutTtl', settings.checkOutTtl, { min: MIN_CHECK_OUT_TTL, max: MAX_CHECK_OUT_TTL });

  // Processes: concurrent seats (issue 20).
  checks.integer('/maxProcesses', settings.maxProcesses, { min: 1, max: 2_147_483_647 });
  oneOf(checks, '/processLeasingStrategy', settings.processLeasingStrategy, PROCESS_LEASING_STRATEGIES);
  checks.integer('/processHeartbeatDuration', settings.processHeartbeatDuration, {
    min: MIN_HEARTBEAT_DURATION,
    max: MAX_HEARTBEAT_SECONDS,
  });
  checks.metadata('/metadata', settings.metadata);
  checks.throwIfAny();
}

/**
 * The overage strategy against the limits the policy will have: on an update, the patch over the
 * stored policy, so lowering a limit under a strategy is refused as surely as the reverse.
 */
function checkOverage(policy: Pick<PolicySettings, 'maxMachines' | 'maxCores' | 'overageStrategy'>): void {
  const checks = new Checks();
  for (const limit of [policy.maxMachines, policy.maxCores]) {
    const problem = pointlessOverage(limit, policy.overageStrategy);
    if (problem !== null) {
      checks.fail('/overageStrategy', problem);
      break;
    }
  }
  checks.throwIfAny();
}

export class PoliciesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #limit: string | null;

  /** `limit`: the one product an API key is limited to; other policies are not found for it. */
  constructor(em: EntityManager, clock: Clock, actor: Actor | null, limit: string | null = null) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#limit = limit;
  }

  /**
   * The product a policy is to belong to, share-locked against its deletion: null for none, which
   * credentials limited to a product may not ask for.
   */
  async #product(em: EntityManager, productId: string | null): Promise<string | null> {
    if (productId === null) {
      if (this.#limit !== null) throw new UnknownProduct(null);
      return null;
    }
    return (await new ProductsService(em, this.#clock, this.#actor, this.#limit).lockForUse(em, productId)).id;
  }

  async create(input: CreatePolicyInput): Promise<Policy> {
    const settings: PolicySettings = {
      ...POLICY_DEFAULTS,
      productId: this.#limit,
      metadata: {},
      ...pick(input, SETTINGS),
      name: input.name,
    };
    check(settings);
    checkOverage(settings);
    const now = this.#clock.now();
    return this.#em.transactional(async (em) => {
      settings.productId = await this.#product(em, settings.productId);
      const policy = em.create(Policy, { id: uuidv7(), ...settings, createdAt: now, updatedAt: now, deletedAt: null });
      await em.flush();
      await recordEvent(em, 'policy.created', policySubject(policy.id), now, this.#actor);
      return policy;
    });
  }

  async list(query: PageQuery): Promise<Page<Policy>> {
    return findPage(this.#em, Policy, this.#where({ deletedAt: null }), query);
  }

  /** `where`, narrowed to the product these credentials are limited to. */
  #where(where: FilterQuery<Policy>): FilterQuery<Policy> {
    return this.#limit === null ? where : ({ $and: [where, { productId: this.#limit }] } as FilterQuery<Policy>);
  }

  /** A live (not deleted) policy. */
  async get(id: string): Promise<Policy> {
    const policy = isUuid(id) ? await this.#em.findOne(Policy, this.#where({ id, deletedAt: null })) : null;
    if (!policy) throw new PolicyNotFound(id);
    return policy;
  }

  /** Applies a merge patch; `metadata` merges key by key. */
  async update(id: string, patch: UpdatePolicyInput): Promise<Policy> {
    const changes = pick(patch, SETTINGS);
    const policy = await this.get(id);
    const metadata = changes.metadata === undefined ? undefined : mergePatch(policy.metadata, changes.metadata);
    check({ ...changes, metadata });
    checkOverage({
      maxMachines: changes.maxMachines === undefined ? (policy.maxMachines ?? null) : changes.maxMachines,
      maxCores: changes.maxCores === undefined ? (policy.maxCores ?? null) : changes.maxCores,
      overageStrategy: changes.overageStrategy ?? policy.overageStrategy,
    });
    const now = this.#clock.now();
    await this.#em.transactional(async (em) => {
      if (changes.productId !== undefined) changes.productId = await this.#product(em, changes.productId);
      em.assign(policy, { ...changes, ...(metadata ? { metadata } : {}), updatedAt: now });
      await em.flush();
      await recordEvent(em, 'policy.updated', policySubject(id), now, this.#actor);
    });
    return policy;
  }

  /**
   * Deletes a policy no live license uses. Soft: deleted licenses keep pointing at it. The row
   * lock conflicts with the share lock a license creation takes on its policy, so the two
   * serialise: the creation finishes first (and the deletion sees its license), or it waits and
   * then finds the policy gone.
   */
  async delete(id: string): Promise<void> {
    await this.#em.transactional(async (em) => {
      const policy = isUuid(id)
        ? await em.findOne(Policy, this.#where({ id, deletedAt: null }), { lockMode: LockMode.PESSIMISTIC_WRITE })
        : null;
      if (!policy) throw new PolicyNotFound(id);
      // On the table, not the License entity: licenses sit above policies and point at them.
      const [{ licenses }] = await execute<[{ licenses: number }]>(
        em,
        sql`select count(*)::int as licenses from licenses where policy_id = ${id} and deleted_at is null`,
      );
      if (licenses > 0) throw new PolicyInUse(licenses);
      const now = this.#clock.now();
      policy.deletedAt = now;
      policy.updatedAt = now;
      await em.flush();
      await recordEvent(em, 'policy.deleted', policySubject(id), now, this.#actor);
    });
  }
}

const SETTINGS = [
  'name',
  'maxMachines',
  'keyPrefix',
  'requireHeartbeat',
  'heartbeatDuration',
  'heartbeatCullStrategy',
  'heartbeatResurrectionWindow',
  // Limits and overage (issue 18).
  'maxCores',
  'overageStrategy',
  'machineUniquenessStrategy',
  // Products (issue 18).
  'productId',
  // Expiry, duration and renewal (issue 18).
  'duration',
  'expirationBasis',
  'expirationStrategy',
  'renewalBasis',
  // Entitlements and machine matching (issue 18).
  'machineMatchingStrategy',
  // Machine and license files (issue 19).
  'checkOutTtl',
  'allowNonExpiringFiles',
  // Processes: concurrent seats (issue 20).
  'maxProcesses',
  'processLeasingStrategy',
  'processHeartbeatDuration',
  'metadata',
] as const satisfies readonly (keyof PolicySettings)[];
