import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Clock } from './core/clock.ts';
import { Lazy } from './core/lazy.ts';
import type { SecretRing } from './core/sealing.ts';
import { EntitlementsService } from './entitlements/entitlements.service.ts';
import type { Actor } from './events/actor.ts';
import { EventsService } from './events/events.service.ts';
import { ApiKeysService } from './keys/api-keys.service.ts';
import type { AuthCache } from './keys/auth-cache.ts';
import type { KeyHasher } from './keys/hashing.ts';
import { CheckOutService } from './licenses/check-out.ts';
import { licenseSubject } from './licenses/events.ts';
import { LicensesService } from './licenses/licenses.service.ts';
import type { ValidationLookups } from './licenses/validation-lookup.ts';
import type { HeartbeatBatcher } from './machines/heartbeat-batch.ts';
import { MachinesService } from './machines/machines.service.ts';
import { ProcessesService } from './machines/processes.service.ts';
import { SigningKeysService } from './offline/signing-keys.ts';
import { policySubject } from './policies/events.ts';
import { PoliciesService } from './policies/policies.service.ts';
import { ProductsService } from './products/products.service.ts';
import type { AddressPolicy } from './webhooks/address.ts';
import { WebhookEndpointsService } from './webhooks/endpoints.service.ts';

/** What one process's units of work share. */
export interface SharedServices {
  authCache?: AuthCache;
  heartbeats?: HeartbeatBatcher;
  validations?: ValidationLookups;
  /** Which webhook URLs endpoints may be created with (LICENTRIC_WEBHOOKS_ALLOW_PRIVATE). */
  webhookAddresses?: AddressPolicy;
  /** The server secret the signing keys are sealed under; without it nothing can be signed or rotated. */
  secret?: string | SecretRing;
  /** The driver's pool (the ORM's own): activations run their transaction on it, apart from the ORM. */
  pool?: pg.Pool;
}

/** The domain services bound to one unit of work (a request, a CLI command, a worker pass). */
export class Services {
  readonly #em: Lazy<EntityManager>;
  readonly clock: Clock;
  readonly #hasher: KeyHasher;
  readonly #authCache: AuthCache | undefined;
  readonly #heartbeats: HeartbeatBatcher | undefined;
  readonly #validations: ValidationLookups | undefined;
  readonly #webhookAddresses: AddressPolicy;
  readonly #shared: SharedServices;
  /** The one product an API key is limited to: the others' objects are not found. null: all. */
  readonly productLimit: string | null;
  /**
   * Who the unit of work acts for: every event it writes names them. null for a request's services
   * before it is authenticated, which only authenticate and read (writing an event throws).
   */
  readonly actor: Actor | null;

  /**
   * `actor`: who the work is done for (CLI_ACTOR for a command). `shared`, a server's own: its
   * authentication cache (key lookups skip the database, its changes clear it) and its heartbeat
   * group commit; and which webhook URLs it accepts.
   */
  constructor(
    em: EntityManager | Lazy<EntityManager>,
    clock: Clock,
    hasher: KeyHasher,
    actor: Actor | null,
    shared: SharedServices = {},
    productLimit: string | null = null,
  ) {
    this.#em = Lazy.from(em);
    this.actor = actor;
    this.#shared = shared;
    this.productLimit = productLimit;
    this.clock = clock;
    this.#hasher = hasher;
    this.#authCache = shared.authCache;
    this.#heartbeats = shared.heartbeats;
    this.#validations = shared.validations;
    this.#webhookAddresses = shared.webhookAddresses ?? { allowPrivate: false };
  }

  /**
   * The same unit of work, acting for `actor` (an authenticated request's credential), and seeing
   * only one product's policies, licenses and machines when `productLimit` names one.
   */
  actingFor(actor: Actor, productLimit: string | null = null): Services {
    // The same unit of work: one fork between them, made when either first needs it.
    return new Services(this.#em, this.clock, this.#hasher, actor, this.#shared, productLimit);
  }

  /** The unit of work's EntityManager; a lazy one is forked on first use, once. */
  get em(): EntityManager {
    return this.#em.value;
  }

  /** The same, not forked until a reader needs it (`licenseRefusal` for an expired license). */
  get unitOfWork(): Lazy<EntityManager> {
    return this.#em;
  }

  get machines(): MachinesService {
    return new MachinesService(
      this.#em,
      this.clock,
      this.actor,
      this.#heartbeats,
      this.productLimit,
      this.#authCache,
      this.#shared.pool,
    );
  }

  get processes(): ProcessesService {
    return new ProcessesService(this.#em, this.clock, this.actor, this.#heartbeats, this.productLimit);
  }

  get licenses(): LicensesService {
    return new LicensesService(
      this.#em,
      this.clock,
      this.actor,
      this.#hasher,
      this.#authCache,
      this.#validations,
      this.productLimit,
    );
  }

  get policies(): PoliciesService {
    return new PoliciesService(this.em, this.clock, this.actor, this.productLimit);
  }

  get products(): ProductsService {
    return new ProductsService(this.em, this.clock, this.actor, this.productLimit);
  }

  get entitlements(): EntitlementsService {
    return new EntitlementsService(
      this.em,
      this.clock,
      this.actor,
      { policy: policySubject, license: licenseSubject },
      this.productLimit,
    );
  }

  get checkOuts(): CheckOutService {
    const secret = this.#shared.secret;
    if (secret === undefined) throw new Error('these services were made without the signing secret');
    return new CheckOutService(
      this.em,
      this.clock,
      this.actor,
      this.#hasher,
      secret,
      this.entitlements,
      this.productLimit,
    );
  }

  get events(): EventsService {
    return new EventsService(this.em);
  }

  get webhookEndpoints(): WebhookEndpointsService {
    return new WebhookEndpointsService(this.em, this.clock, this.actor, this.#webhookAddresses, this.#shared.secret);
  }

  get signingKeys(): SigningKeysService {
    return new SigningKeysService(this.em, this.clock, this.actor, this.#shared.secret);
  }

  get apiKeys(): ApiKeysService {
    return new ApiKeysService(this.em, this.clock, this.actor, this.#hasher, this.#authCache);
  }
}
