import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { PolicyInUse, PolicyNotFound } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import { recordEvent } from '../events/record.ts';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from '../keys/license-key.ts';
import { License } from '../licenses/license.entity.ts';
import {
  CULL_STRATEGIES,
  type HeartbeatCullStrategy,
  MATCHING_STRATEGIES,
  type MachineMatchingStrategy,
  Policy,
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
  // Entitlements and machine matching (issue 18).
  machineMatchingStrategy: MachineMatchingStrategy;
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
  // Entitlements and machine matching (issue 18).
  machineMatchingStrategy: 'MATCH_ANY',
} as const satisfies Partial<PolicySettings>;

export const MIN_HEARTBEAT_DURATION = 60;
export const MAX_HEARTBEAT_SECONDS = 30 * 24 * 3600;

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
  if (settings.heartbeatCullStrategy !== undefined && !CULL_STRATEGIES.includes(settings.heartbeatCullStrategy)) {
    checks.fail('/heartbeatCullStrategy', `must be one of ${CULL_STRATEGIES.join(', ')}`);
  }
  // Entitlements and machine matching (issue 18).
  if (
    settings.machineMatchingStrategy !== undefined &&
    !MATCHING_STRATEGIES.includes(settings.machineMatchingStrategy)
  ) {
    checks.fail('/machineMatchingStrategy', `must be one of ${MATCHING_STRATEGIES.join(', ')}`);
  }
  checks.metadata('/metadata', settings.metadata);
  checks.throwIfAny();
}

export class PoliciesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;

  constructor(em: EntityManager, clock: Clock) {
    this.#em = em;
    this.#clock = clock;
  }

  async create(input: CreatePolicyInput): Promise<Policy> {
    const settings: PolicySettings = { ...POLICY_DEFAULTS, metadata: {}, ...pick(input, SETTINGS), name: input.name };
    check(settings);
    const now = this.#clock.now();
    return this.#em.transactional(async (em) => {
      const policy = em.create(Policy, { id: uuidv7(), ...settings, createdAt: now, updatedAt: now, deletedAt: null });
      await em.flush();
      await recordEvent(em, 'policy.created', { policy: policy.id }, now);
      return policy;
    });
  }

  async list(query: PageQuery): Promise<Page<Policy>> {
    return findPage(this.#em, Policy, { deletedAt: null }, query);
  }

  /** A live (not deleted) policy. */
  async get(id: string): Promise<Policy> {
    const policy = isUuid(id) ? await this.#em.findOne(Policy, { id, deletedAt: null }) : null;
    if (!policy) throw new PolicyNotFound(id);
    return policy;
  }

  /** Applies a merge patch; `metadata` merges key by key. */
  async update(id: string, patch: UpdatePolicyInput): Promise<Policy> {
    const changes = pick(patch, SETTINGS);
    const policy = await this.get(id);
    const metadata = changes.metadata === undefined ? undefined : mergePatch(policy.metadata, changes.metadata);
    check({ ...changes, metadata });
    const now = this.#clock.now();
    this.#em.assign(policy, { ...changes, ...(metadata ? { metadata } : {}), updatedAt: now });
    await this.#em.transactional(async (em) => {
      await em.flush();
      await recordEvent(em, 'policy.updated', { policy: id }, now);
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
        ? await em.findOne(Policy, { id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE })
        : null;
      if (!policy) throw new PolicyNotFound(id);
      const licenses = await em.count(License, { policy: id, deletedAt: null });
      if (licenses > 0) throw new PolicyInUse(licenses);
      const now = this.#clock.now();
      policy.deletedAt = now;
      policy.updatedAt = now;
      await em.flush();
      await recordEvent(em, 'policy.deleted', { policy: id }, now);
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
  // Entitlements and machine matching (issue 18).
  'machineMatchingStrategy',
  'metadata',
] as const satisfies readonly (keyof PolicySettings)[];
