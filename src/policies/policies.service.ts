import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { PolicyNotFound } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Checks, METADATA_MAX_BYTES } from '../core/validation.ts';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from '../keys/license-key.ts';
import { Policy } from './policy.entity.ts';

export interface CreatePolicyInput {
  name: string;
  /** null or absent: no limit. */
  maxMachines?: number | null;
  keyPrefix?: string;
  metadata?: Record<string, unknown>;
}

export class PoliciesService {
  readonly #em: EntityManager;
  readonly #clock: Clock;

  constructor(em: EntityManager, clock: Clock) {
    this.#em = em;
    this.#clock = clock;
  }

  async create(input: CreatePolicyInput): Promise<Policy> {
    const checks = new Checks();
    checks.text('/name', input.name, { min: 1, max: 255 });
    checks.integer('/maxMachines', input.maxMachines, { min: 1, max: 2_147_483_647 });
    if (input.keyPrefix !== undefined && !KEY_PREFIX_PATTERN.test(input.keyPrefix)) {
      checks.fail('/keyPrefix', 'must be 1–12 characters of A–Z and 0–9');
    }
    checks.jsonSize('/metadata', input.metadata, METADATA_MAX_BYTES);
    checks.throwIfAny();

    const now = this.#clock.now();
    const policy = this.#em.create(Policy, {
      id: uuidv7(),
      name: input.name,
      maxMachines: input.maxMachines ?? null,
      keyPrefix: input.keyPrefix ?? DEFAULT_KEY_PREFIX,
      metadata: input.metadata ?? {},
      createdAt: now,
      updatedAt: now,
    });
    await this.#em.flush();
    return policy;
  }

  async get(id: string): Promise<Policy> {
    const policy = isUuid(id) ? await this.#em.findOne(Policy, { id }) : null;
    if (!policy) throw new PolicyNotFound(id);
    return policy;
  }
}
