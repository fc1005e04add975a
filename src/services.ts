import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from './core/clock.ts';
import { ApiKeysService } from './keys/api-keys.service.ts';
import type { AuthCache } from './keys/auth-cache.ts';
import type { KeyHasher } from './keys/hashing.ts';
import { LicensesService } from './licenses/licenses.service.ts';
import type { HeartbeatBatcher } from './machines/heartbeat-batch.ts';
import { MachinesService } from './machines/machines.service.ts';
import { PoliciesService } from './policies/policies.service.ts';

/** What one process's units of work share. */
export interface SharedServices {
  authCache?: AuthCache;
  heartbeats?: HeartbeatBatcher;
}

/** The domain services bound to one unit of work (a request, a CLI command, a worker pass). */
export class Services {
  readonly em: EntityManager;
  readonly clock: Clock;
  readonly #hasher: KeyHasher;
  readonly #authCache: AuthCache | undefined;
  readonly #heartbeats: HeartbeatBatcher | undefined;

  /**
   * `shared`, a server's own: its authentication cache (key lookups skip the database, its
   * changes clear it) and its heartbeat group commit.
   */
  constructor(em: EntityManager, clock: Clock, hasher: KeyHasher, shared: SharedServices = {}) {
    this.em = em;
    this.clock = clock;
    this.#hasher = hasher;
    this.#authCache = shared.authCache;
    this.#heartbeats = shared.heartbeats;
  }

  get machines(): MachinesService {
    return new MachinesService(this.em, this.clock, this.#heartbeats);
  }

  get licenses(): LicensesService {
    return new LicensesService(this.em, this.clock, this.#hasher, this.#authCache);
  }

  get policies(): PoliciesService {
    return new PoliciesService(this.em, this.clock);
  }

  get apiKeys(): ApiKeysService {
    return new ApiKeysService(this.em, this.clock, this.#hasher, this.#authCache);
  }
}
