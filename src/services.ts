import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from './core/clock.ts';
import { EventsService } from './events/events.service.ts';
import { ApiKeysService } from './keys/api-keys.service.ts';
import type { KeyHasher } from './keys/hashing.ts';
import { LicensesService } from './licenses/licenses.service.ts';
import { MachinesService } from './machines/machines.service.ts';
import { PoliciesService } from './policies/policies.service.ts';
import type { AddressPolicy } from './webhooks/address.ts';
import { WebhookEndpointsService } from './webhooks/endpoints.service.ts';

/** The domain services bound to one unit of work (a request, a CLI command, a worker pass). */
export class Services {
  readonly em: EntityManager;
  readonly clock: Clock;
  readonly #hasher: KeyHasher;
  readonly #webhookAddresses: AddressPolicy;

  constructor(em: EntityManager, clock: Clock, hasher: KeyHasher, webhookAddresses: AddressPolicy = { allowPrivate: false }) {
    this.em = em;
    this.clock = clock;
    this.#hasher = hasher;
    this.#webhookAddresses = webhookAddresses;
  }

  get machines(): MachinesService {
    return new MachinesService(this.em, this.clock);
  }

  get licenses(): LicensesService {
    return new LicensesService(this.em, this.clock, this.#hasher);
  }

  get policies(): PoliciesService {
    return new PoliciesService(this.em, this.clock);
  }

  get events(): EventsService {
    return new EventsService(this.em);
  }

  get webhookEndpoints(): WebhookEndpointsService {
    return new WebhookEndpointsService(this.em, this.clock, this.#webhookAddresses);
  }

  get apiKeys(): ApiKeysService {
    return new ApiKeysService(this.em, this.clock, this.#hasher);
  }
}
