import { LockMode } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  ExpiresInPast,
  ExpiryOutOfRange,
  LicenseNotFound,
  PolicyHasNoDuration,
  UnknownPolicy,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { Lazy } from '../core/lazy.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { type Page, type PageQuery, pageOf, pageWindow } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import { keysetPage } from '../db/keyset.ts';
import { execute, maybeDate, type Sql, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import type { AuthCache } from '../keys/auth-cache.ts';
import { KeyHasher } from '../keys/hashing.ts';
import { generateLicenseKey, parseLicenseKey } from '../keys/license-key.ts';
import { deactivateMachines } from '../machines/deactivation.ts';
import { heartbeatStatus } from '../machines/heartbeat.ts';
import { coreCountSql, machineCountSql } from '../machines/machine-count.ts';
import { type MachineRecord, toMachineRecord } from '../machines/machine-record.ts';
import { limitStanding } from '../policies/limits.ts';
import { type MachineMatchingStrategy, Policy } from '../policies/policy.entity.ts';
import { licenseSubject } from './events.ts';
import { renewedExpiry, startExpiry } from './expiry.ts';
import { License } from './license.entity.ts';
import { type LicenseRecord, toLicenseRecord } from './license-record.ts';
import { type LicenseStatus, licenseStatus, refusalFor, validationRefusal } from './status.ts';
import { lookupValidation, type ValidationLookups, type ValidationRow } from './validation-lookup.ts';

// The CLI offers the statuses as filter values.
export { LICENSE_STATUSES, type LicenseStatus } from './status.ts';

export interface CreateLicenseInput {
  policyId: string;
  name?: string | null;
  /** null: never; absent: by the policy's duration and expiration basis. */
  expiresAt?: Date | null;
  metadata?: Record<string, unknown>;
}

export interface UpdateLicenseInput {
  name?: string | null;
  expiresAt?: Date | null;
  policyId?: string;
  metadata?: Record<string, unknown>;
}

export interface ListLicensesQuery extends PageQuery {
  policyId?: string;
  status?: LicenseStatus;
  /** The spec's `search`: see `licenseSearchSql`. */
  search?: string;
}

/** How many licenses a search tests in id order before it asks the search indexes instead. */
const SEARCH_WALK = 1000;

/**
 * The license list's `search`, over licenses aliased `l`: the name contains the text in any case
 * (ILIKE, served by the trigram index), or a top-level metadata value equals it, strings in any
 * case (served by the index on `licentric_metadata_values`; the console migration).
 */
export function licenseSearchSql(l: string, text: string): Sql {
  return sql`(${nameMatchSql(l, text)} or ${metadataMatchSql(l, text)})`;
}

/** The name half of `search`: ILIKE, its wildcards escaped. */
function nameMatchSql(l: string, text: string): Sql {
  return sql`${sql.raw(l)}.name ilike ${`%${text.replace(/[\\%_]/g, '\\$&')}%`}`;
}

/** The metadata half of `search`. */
function metadataMatchSql(l: string, text: string): Sql {
  return sql`licentric_metadata_values(${sql.raw(l)}.metadata) @> array[lower(${text}::text)]`;
}

/**
 * A search's first try: the first `SEARCH_WALK` licenses in id order that meet `conditions`
 * (over licenses `l` and policies `p`), tested one by one; the first `rows` matches, each with
 * `walked`, how many were tested. One row at least, to carry `walked`: without a match, its
 * license columns are null.
 */
export function searchWalkSql(conditions: Sql, text: string, rows: number): Sql {
  return sql`with w as (select l.* from licenses l join policies p on p.id = l.policy_id
                         where ${conditions} order by l.id limit ${SEARCH_WALK})
             select m.*, c.walked from (select count(*)::int as walked from w) c
               left join lateral (select * from w where ${licenseSearchSql('w', text)} order by w.id limit ${rows}) m
                 on true`;
}

/**
 * A search through its indexes: the ids of every match first, each half of the search through
 * its own index (together, the metadata half would be rechecked on every row the name half
 * reads, and a text of one or two characters has no trigram to narrow those), then the first
 * `rows` licenses in id order. MATERIALIZED: left to itself, the planner may walk the ids again.
 */
export function searchIndexedSql(conditions: Sql, text: string, rows: number): Sql {
  return sql`with matched as materialized (
               select l.id from licenses l join policies p on p.id = l.policy_id
                where ${conditions} and ${nameMatchSql('l', text)}
               union
               select l.id from licenses l join policies p on p.id = l.policy_id
                where ${conditions} and ${metadataMatchSql('l', text)})
             select l.* from licenses l where l.id = any(array(select id from matched)) order by l.id limit ${rows}`;
}

export interface CreatedLicense {
  license: License;
  /** The plain key: shown once, never stored. */
  key: string;
}

/** A license as reads show it: with what is computed at read time. */
export interface LicenseView {
  license: LicenseRecord;
  status: LicenseStatus;
  /** Active (not deactivated) machines. */
  machineCount: number;
  /** The cores of the active machines; one for each machine that did not say. */
  coreCount: number;

  /** The product of the license's policy; null: none. */
  productId: string | null;
}

export type ValidationCode =
  | 'VALID'
  | 'PRODUCT_SCOPE_MISMATCH'
  | 'POLICY_SCOPE_MISMATCH'
  | 'SUSPENDED'
  | 'EXPIRED'
  | 'NO_MACHINE'
  | 'FINGERPRINT_NOT_ACTIVATED'
  | 'HEARTBEAT_DEAD'
  | 'TOO_MANY_MACHINES'
  | 'TOO_MANY_CORES'
  | 'ENTITLEMENTS_MISSING';

/**
 * What the validating software says it is and needs: a product (id or code) and/or a policy (id),
 * fingerprints of the machine it runs on (judged by the policy's matching strategy), and
 * entitlement codes.
 */
export interface ValidationScope {
  product?: string;
  policy?: string;
  fingerprints?: string[];
  entitlements?: string[];
}

export interface Validation {
  valid: boolean;
  code: ValidationCode;
  detail: string;
  license: LicenseView;
  machine: MachineRecord | null;
  /** The license's effective entitlement codes, sorted. */
  entitlements: string[];
  /** Of the codes asked for, those the license lacks, sorted. */
  missingEntitlements: string[];
  /** Live processes (issue 20) of the answering machine and the license, and the seats free now. */
  processes: ValidationProcesses;
}

export interface ValidationProcesses {
  /** null: no machine answers. */
  machineCount: number | null;
  licenseCount: number;
  /** null: no limit, or a per-machine limit and no machine answers. */
  freeSeats: number | null;
}

/** The process counts a validation reports for the machine that answers it (if any). */
function processesOf(row: ValidationRow, machine: MachineRecord | null): ValidationProcesses {
  const machineCount = machine === null ? null : (row.machine_processes ?? 0);
  const held = row.process_leasing_strategy === 'PER_LICENSE' ? row.license_processes : machineCount;
  const freeSeats = row.max_processes === null || held === null ? null : Math.max(0, row.max_processes - held);
  return { machineCount, licenseCount: row.license_processes, freeSeats };
}

/** Whether `matched` of `given` fingerprints are enough under a matching strategy. */
export function fingerprintsMatch(strategy: MachineMatchingStrategy, matched: number, given: number): boolean {
  switch (strategy) {
    case 'MATCH_ANY':
      return matched >= 1;
    case 'MATCH_MOST':
      return matched * 2 > given;
    case 'MATCH_ALL':
      return matched === given;
  }
}

/** What a license listing shows of the key: its prefix and last group. */
function keyHint(key: string): string {
  return `${key.slice(0, key.indexOf('-'))}-…-${key.slice(key.lastIndexOf('-') + 1)}`;
}

/** The last instant an expiry may be (the spec's bound on every `expiresAt`). */
const LATEST_EXPIRY = Date.parse('9999-12-31T23:59:59.999Z');

function checkInput(input: {
  name?: string | null;
  expiresAt?: Date | null;
  metadata?: Record<string, unknown>;
}): void {
  const checks = new Checks();
  checks.text('/name', input.name, { min: 1, max: 255 });
  checks.instant('/expiresAt', input.expiresAt);
  checks.metadata('/metadata', input.metadata);
  checks.throwIfAny();
}

/**
 * Whether the license's product is the one a scope names, by id (a UUID, in any case) or by code
 * (exact). Codes cannot look like UUIDs, so the two never mix; a license without a product
 * matches no product.
 */
function productMatches(asked: string, row: Pick<ValidationRow, 'product_id' | 'product_code'>): boolean {
  if (row.product_id == null) return false;
  return isUuid(asked) ? asked.toLowerCase() === row.product_id : asked === row.product_code;
}

/** The codes asked for that the license lacks: sorted, each once. */
function missingOf(asked: string[], held: string[]): string[] {
  const has = new Set(held);
  return [...new Set(asked)].filter((code) => !has.has(code)).sort();
}

export class LicensesService {
  readonly #lazyEm: Lazy<EntityManager>;
  /** The unit of work's EntityManager, forked when first needed (`Lazy`). */
  get #em(): EntityManager {
    return this.#lazyEm.value;
  }
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #hasher: KeyHasher;
  readonly #authCache: AuthCache | undefined;
  readonly #validations: ValidationLookups | undefined;
  readonly #limit: string | null;

  /**
   * `validations`: a server's grouped validation reads; without it each validation reads alone.
   * `limit`: the one product an API key is limited to; other licenses are not found for it.
   */
  constructor(
    em: EntityManager | Lazy<EntityManager>,
    clock: Clock,
    actor: Actor | null,
    hasher: KeyHasher,
    authCache?: AuthCache,
    validations?: ValidationLookups,
    limit: string | null = null,
  ) {
    this.#lazyEm = Lazy.from(em);
    this.#clock = clock;
    this.#actor = actor;
    this.#hasher = hasher;
    this.#authCache = authCache;
    this.#validations = validations;
    this.#limit = limit;
  }

  /** `where`, narrowed to the licenses of the product these credentials are limited to. */
  #where(where: FilterQuery<License>): FilterQuery<License> {
    return this.#limit === null
      ? where
      : ({ $and: [where, { policy: { productId: this.#limit } }] } as FilterQuery<License>);
  }

  /**
   * A live license these credentials may see, row-locked for the rest of the transaction. The
   * product is checked after the lock, on the policy the license has then: locking through a
   * join would lock the policy row too.
   */
  async #lockVisible(em: EntityManager, id: string): Promise<License> {
    // `for no key update`, not the ORM's `for update`: it excludes every other writer of the
    // license as well, but not the key-share locks that inserts pointing at it take (a machine
    // count delta, an event). A deactivation or cull holding machine rows takes those, and a
    // deletion holding the license waits for its machines: `for update` made that a deadlock.
    const [locked] = isUuid(id)
      ? await execute<{ id: string }[]>(
          em,
          sql`select id from licenses where id = ${id} and deleted_at is null for no key update`,
        )
      : [];
    const license = locked ? await em.findOne(License, { id: locked.id }) : null;
    if (!license) throw new LicenseNotFound(id);
    if (this.#limit !== null && (await em.count(Policy, { id: license.policy.id, productId: this.#limit })) === 0)
      throw new LicenseNotFound(id);
    return license;
  }

  /**
   * A live policy to put a license under, share-locked for the rest of the transaction so a
   * concurrent policy deletion cannot slip in between the check and the insert.
   */
  async #livePolicy(em: EntityManager, policyId: string): Promise<Policy> {
    const policy = isUuid(policyId)
      ? await em.findOne(
          Policy,
          { id: policyId, deletedAt: null, ...(this.#limit === null ? {} : { productId: this.#limit }) },
          { lockMode: LockMode.PESSIMISTIC_READ },
        )
      : null;
    if (!policy) throw new UnknownPolicy(policyId);
    return policy;
  }

  /**
   * A license that is expired on arrival is a mistake, not a wish: ending one now is what
   * suspending (reversible) and deleting are for, and those say so in the license's status.
   */
  #refusePastExpiry(expiresAt: Date | null | undefined): void {
    if (expiresAt && expiresAt.getTime() <= this.#clock.now().getTime()) throw new ExpiresInPast(expiresAt);
  }

  async create(input: CreateLicenseInput): Promise<CreatedLicense> {
    checkInput(input);
    this.#refusePastExpiry(input.expiresAt);
    return this.#em.transactional(async (em) => {
      const policy = await this.#livePolicy(em, input.policyId);
      const key = generateLicenseKey(policy.keyPrefix);
      const now = this.#clock.now();
      // An expiry the request gives (a date, or null for never) wins over the policy's.
      const byPolicy = input.expiresAt === undefined && policy.duration != null;
      const license = em.create(License, {
        id: uuidv7(),
        policy,
        keyHash: this.#hasher.hash('license-key', key),
        keySecretId: this.#hasher.secretId,
        keyHint: keyHint(key),
        name: input.name ?? null,
        metadata: input.metadata ?? {},
        expiresAt:
          byPolicy && policy.expirationBasis === 'FROM_CREATION'
            ? new Date(now.getTime() + policy.duration! * 1000)
            : (input.expiresAt ?? null),
        expiryPending: byPolicy && policy.expirationBasis !== 'FROM_CREATION',
        suspendedAt: null,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
      });
      await em.flush();
      await recordEvent(em, 'license.created', licenseSubject(license.id), now, this.#actor);
      return { license, key };
    });
  }

  async list(query: ListLicensesQuery): Promise<Page<LicenseView>> {
    const now = this.#clock.now();
    const where: Sql[] = [sql`l.deleted_at is null`];
    if (query.policyId !== undefined)
      where.push(isUuid(query.policyId) ? sql`l.policy_id = ${query.policyId}` : sql`false`);
    if (this.#limit !== null) where.push(sql`p.product_id = ${this.#limit}`);
    if (query.status === 'SUSPENDED') where.push(sql`l.suspended_at is not null`);
    if (query.status === 'EXPIRED') where.push(sql`l.suspended_at is null and l.expires_at <= ${now}`);
    if (query.status === 'ACTIVE')
      where.push(sql`l.suspended_at is null and (l.expires_at is null or l.expires_at > ${now})`);
    const page =
      query.search === undefined
        ? await keysetPage(
            this.#em,
            {
              select: sql`select l.* from licenses l join policies p on p.id = l.policy_id`,
              where,
              key: 'l.id',
              map: toLicenseRecord,
            },
            query,
          )
        : await this.#searchPage(where, query.search, query);
    return { ...page, items: await this.views(page.items) };
  }

  /**
   * A page of a search, in id order. Which plan is fast depends on how many licenses match,
   * which the planner cannot tell from a substring: walking the ids and testing each license
   * finds a page at once when many match and reads every license when few do; the search
   * indexes find the few at once and all of the many before they are sorted. So the walk goes
   * first, over a bounded window; when its matches do not fill the page, the indexes answer.
   */
  async #searchPage(where: Sql[], text: string, query: PageQuery): Promise<Page<LicenseRecord>> {
    const { limit, after } = pageWindow(query);
    const conditions = sql.join(after === undefined ? where : [...where, sql`l.id > ${after}`], ' and ');
    const walked = await execute<(Record<string, unknown> & { walked: number })[]>(
      this.#em,
      searchWalkSql(conditions, text, limit + 1),
    );
    const found = walked.filter((row) => row.id != null);
    if (found.length > limit || walked[0]!.walked < SEARCH_WALK) return pageOf(found.map(toLicenseRecord), limit);
    const rows = await execute<Record<string, unknown>[]>(this.#em, searchIndexedSql(conditions, text, limit + 1));
    return pageOf(rows.map(toLicenseRecord), limit);
  }

  /**
   * The live license a full key belongs to, as these credentials may see it: the key is read as
   * authentication reads it, and only its keyed hash is looked for. Any miss is one answer, which
   * names nothing (a key limited to a product learns nothing of another product's licenses).
   */
  async lookup(key: string): Promise<LicenseView> {
    const canonical = parseLicenseKey(key.trim());
    const license =
      canonical === null
        ? null
        : await this.#em.findOne(
            License,
            this.#where({ keyHash: this.#hasher.hash('license-key', canonical), deletedAt: null }),
          );
    if (!license) throw new LicenseNotFound(null);
    return (await this.views([license]))[0]!;
  }

  /** A live (not deleted) license. */
  async get(id: string): Promise<License> {
    const license = isUuid(id)
      ? await this.#em.findOne(License, this.#where({ id, deletedAt: null }), { populate: ['policy'] })
      : null;
    if (!license) throw new LicenseNotFound(id);
    return license;
  }

  async view(id: string): Promise<LicenseView> {
    return (await this.views([await this.get(id)]))[0]!;
  }

  /**
   * Status and machine counts for licenses, one query for all of them. The count is kept beside
   * the license (machines/machine-count.ts) and read fresh here: counting the machines would
   * scan every machine of a large license on every read.
   */
  async views(licenses: LicenseRecord[]): Promise<LicenseView[]> {
    const now = this.#clock.now();
    const counts = new Map<string, { machines: number; cores: number; productId: string | null }>();
    if (licenses.length > 0) {
      const rows = await execute<
        { id: string; machine_count: number; core_count: string | number; product_id: string | null }[]
      >(
        this.#em,
        sql`select l.id, ${machineCountSql('l')} as machine_count, ${coreCountSql('l')} as core_count, p.product_id
              from licenses l join policies p on p.id = l.policy_id where l.id in (${licenses.map((l) => l.id)})`,
      );
      for (const row of rows) {
        counts.set(row.id, { machines: row.machine_count, cores: Number(row.core_count), productId: row.product_id });
      }
    }
    return licenses.map((license) => ({
      license,
      status: licenseStatus(license, now),
      machineCount: counts.get(license.id)?.machines ?? 0,
      coreCount: counts.get(license.id)?.cores ?? 0,
      productId: counts.get(license.id)?.productId ?? null,
    }));
  }

  /** Applies a merge patch of name, expiry, metadata and policy. */
  async update(id: string, patch: UpdateLicenseInput): Promise<LicenseView> {
    const changes = pick(patch, ['name', 'expiresAt', 'policyId', 'metadata'] as const);
    await this.#em.transactional(async (em) => {
      const license = await this.#lockVisible(em, id);
      const metadata = changes.metadata === undefined ? undefined : mergePatch(license.metadata, changes.metadata);
      checkInput({ ...changes, metadata });
      this.#refusePastExpiry(changes.expiresAt);
      const { policyId, ...fields } = changes;
      if (policyId !== undefined) license.policy = await this.#livePolicy(em, policyId);
      const now = this.#clock.now();
      // An expiry set by hand, even to never, is the vendor's word: a pending start no longer applies.
      const started = fields.expiresAt === undefined ? {} : { expiryPending: false };
      em.assign(license, { ...fields, ...started, ...(metadata ? { metadata } : {}), updatedAt: now });
      await em.flush();
      await recordEvent(em, 'license.updated', licenseSubject(id), now, this.#actor);
    });
    // Committed: this replica's next request must not see the old row (the others are notified).
    this.#authCache?.forget();
    return this.view(id);
  }

  /** Suspends (true) or reinstates (false); doing it twice changes nothing. */
  async setSuspended(id: string, suspended: boolean): Promise<LicenseView> {
    const license = await this.get(id);
    if ((license.suspendedAt != null) !== suspended) {
      const now = this.#clock.now();
      license.suspendedAt = suspended ? now : null;
      license.updatedAt = now;
      await this.#em.transactional(async (em) => {
        await em.flush();
        await recordEvent(
          em,
          suspended ? 'license.suspended' : 'license.reinstated',
          licenseSubject(id),
          now,
          this.#actor,
        );
      });
      this.#authCache?.forget();
    }
    return (await this.views([license]))[0]!;
  }

  /**
   * Extends a license's expiry by its policy's duration, counted as the policy's renewal basis
   * says (expiry.ts), with a `license.renewed` event. The license row is locked first, so
   * concurrent renewals each add one duration to what the previous one left. Suspension is left
   * as it is: paying for a term and being let in are separate decisions.
   */
  async renew(id: string): Promise<LicenseView> {
    await this.#em.transactional(async (em) => {
      const license = await this.#lockVisible(em, id);
      const policy = await em.findOneOrFail(Policy, { id: license.policy.id });
      if (policy.duration == null) throw new PolicyHasNoDuration();
      const now = this.#clock.now();
      const expiresAt = renewedExpiry(license.expiresAt ?? null, policy.renewalBasis, policy.duration, now);
      if (expiresAt.getTime() > LATEST_EXPIRY) throw new ExpiryOutOfRange(expiresAt);
      em.assign(license, { expiresAt, expiryPending: false, updatedAt: now });
      await em.flush();
      await recordEvent(em, 'license.renewed', licenseSubject(id), now, this.#actor);
    });
    this.#authCache?.forget();
    return this.view(id);
  }

  /**
   * Deletes a license and deactivates its machines in one transaction. Both are soft: the
   * machines stay readable with `deactivationReason: LICENSE_DELETED`, and the key stops
   * authenticating at once.
   */
  async delete(id: string): Promise<void> {
    await this.#em.transactional(async (em) => {
      const license = await this.#lockVisible(em, id);
      const now = this.#clock.now();
      await deactivateMachines(em, { licenseId: id }, 'LICENSE_DELETED', now, this.#actor);
      license.deletedAt = now;
      license.updatedAt = now;
      await em.flush();
      await recordEvent(em, 'license.deleted', licenseSubject(id), now, this.#actor);
    });
    this.#authCache?.forget();
  }

  /**
   * The live license a presented key belongs to, or null. A key that fails its check character
   * never reaches the database; a key the cache knows does not either.
   */
  async authenticate(presented: string): Promise<LicenseRecord | null> {
    const canonical = parseLicenseKey(presented);
    return canonical === null ? null : this.authenticateCanonical(canonical);
  }

  /**
   * `authenticate`, for a key already in its canonical form (`parseLicenseKey`'s answer): at once,
   * without a promise, when the authentication cache holds the license.
   */
  authenticateCanonical(canonical: string): LicenseRecord | null | Promise<LicenseRecord | null> {
    const hash = this.#hasher.hash('license-key', canonical);
    const cacheKey = `license:${hash.toString('base64')}`;
    const cached = this.#authCache?.peek<LicenseRecord>(cacheKey);
    if (cached !== undefined) return KeyHasher.equal(cached.keyHash, hash) ? cached : null;
    return this.#authenticateStored(canonical, hash, cacheKey);
  }

  async #authenticateStored(canonical: string, hash: Buffer, cacheKey: string): Promise<LicenseRecord | null> {
    // Every license-key request starts here, so this is plain SQL and a plain record: the query
    // builder, and then mapping an entity, would cost more than the query (bench/README.md).
    const load = async () => {
      const [row] = await execute<Record<string, unknown>[]>(
        this.#em,
        sql`select * from licenses where key_hash = ${hash} and deleted_at is null`,
      );
      return row ? toLicenseRecord(row) : null;
    };
    const license = this.#authCache ? await this.#authCache.through(cacheKey, load) : await load();
    if (license !== null) return KeyHasher.equal(license.keyHash, hash) ? license : null;
    // Only a miss, and only during a rotation of the server secret, looks any further.
    return this.#hasher.hasPrevious ? this.#authenticatePrevious(canonical, hash) : null;
  }

  /**
   * A key hashed under a previous server secret: found by those hashes in one statement, and
   * re-hashed under the current secret by an update guarded on the old hash, so two requests
   * re-hashing at once cannot clash (the second changes nothing). The current hash is looked for
   * again beside them, so a request that missed it just before another re-hashed the key still
   * finds it. The change notifies every replica's authentication cache.
   */
  async #authenticatePrevious(canonical: string, hash: Buffer): Promise<LicenseRecord | null> {
    const hashes = [hash, ...this.#hasher.previousHashes('license-key', canonical)];
    const [row] = await execute<Record<string, unknown>[]>(
      this.#em,
      sql`select * from licenses where key_hash in (${sql.join(
        hashes.map((h) => sql`${h}`),
        ', ',
      )}) and deleted_at is null`,
    );
    if (!row) return null;
    if (KeyHasher.equal(row.key_hash as Buffer, hash)) return toLicenseRecord(row);
    await execute(
      this.#em,
      sql`update licenses set key_hash = ${hash}, key_secret_id = ${this.#hasher.secretId}
           where id = ${row.id as string} and key_hash = ${row.key_hash as Buffer}`,
    );
    this.#authCache?.forget();
    return toLicenseRecord({ ...row, key_hash: hash });
  }

  /**
   * Whether a license is good for use now; with fingerprints, whether that machine is; with
   * entitlements, whether the license has them; with a product or policy, whether the license is
   * for it. Every installed copy calls this: the policy, the counts, the entitlements and the
   * machine come in one statement, as plain rows, shared with the validations that arrive beside
   * it. The order in which codes win is the spec's (`LicenseValidationCode`).
   */
  async validate(authenticated: LicenseRecord, scope: ValidationScope = {}): Promise<Validation> {
    let license = authenticated;
    const now = this.#clock.now();
    const fingerprints = scope.fingerprints === undefined ? null : [...new Set(scope.fingerprints)];
    const query = { licenseId: license.id, fingerprints, now };
    const row = this.#validations ? await this.#validations.lookup(query) : await lookupValidation(this.#em, query);
    // Before anything else: a key for another product or policy learns nothing more about itself,
    // and a validation for something else does not start the license's term.
    const mismatch =
      scope.product !== undefined && !productMatches(scope.product, row)
        ? ({ code: 'PRODUCT_SCOPE_MISMATCH', detail: 'The license is not for this product.' } as const)
        : scope.policy !== undefined && scope.policy.toLowerCase() !== row.policy_id
          ? ({ code: 'POLICY_SCOPE_MISMATCH', detail: 'The license does not follow this policy.' } as const)
          : null;
    // Once per license at most: the first validation under a first-validation basis starts the expiry.
    if (
      mismatch === null &&
      row.expiry_pending &&
      row.policy_duration !== null &&
      row.expiration_basis === 'FROM_FIRST_VALIDATION'
    ) {
      license = await this.#startExpiryOnValidation(license, now);
    } else {
      // A concurrent first event may have started the expiry after this key was authenticated.
      const expiresAt = maybeDate(row.license_expires_at);
      if (expiresAt?.getTime() !== license.expiresAt?.getTime()) license = Object.freeze({ ...license, expiresAt });
    }
    const view: LicenseView = {
      license,
      status: licenseStatus(license, now),
      machineCount: row.machine_count,
      coreCount: Number(row.core_count),
      productId: row.product_id ?? null,
    };
    const policy = { maxMachines: row.max_machines, maxCores: row.max_cores };
    const machine = row.m_id == null ? null : toMachineRecord(row);
    // A mismatched scope is told nothing of the license's entitlements.
    const entitlements = mismatch === null ? row.entitlements : [];
    const missingEntitlements =
      mismatch === null && scope.entitlements !== undefined ? missingOf(scope.entitlements, row.entitlements) : [];
    const verdict = (
      code: ValidationCode,
      detail: string,
      machine: MachineRecord | null = null,
      valid = code === 'VALID',
    ): Validation => ({
      valid,
      code,
      detail,
      license: view,
      machine,
      entitlements,
      missingEntitlements,
      // A mismatched scope is told nothing of the license's processes either.
      processes:
        mismatch === null ? processesOf(row, machine) : { machineCount: null, licenseCount: 0, freeSeats: null },
    });

    if (mismatch !== null) return verdict(mismatch.code, mismatch.detail);
    // A refused license is told the same words the machine operations refuse it with.
    const refused = validationRefusal(view.status, row.expiration_strategy);
    if (refused !== null) return verdict(refused.code, refusalFor(license, view.status)!.detail);
    // Limits and overage (issue 18): beyond the allowance refuses; within it, only warns (below).
    const machines = limitStanding(view.machineCount, policy.maxMachines, row.overage_strategy);
    const cores = limitStanding(view.coreCount, policy.maxCores, row.overage_strategy);
    // Functions, not strings: a valid license's answer (the call made all day) builds neither.
    const tooManyMachines = () =>
      `The license has ${view.machineCount} active machines; its policy allows ${policy.maxMachines}.`;
    const tooManyCores = () =>
      `The license's active machines have ${view.coreCount} cores; its policy allows ${policy.maxCores}.`;
    if (machines === 'BEYOND') return verdict('TOO_MANY_MACHINES', tooManyMachines());
    if (cores === 'BEYOND') return verdict('TOO_MANY_CORES', tooManyCores());
    if (missingEntitlements.length > 0) {
      const n = missingEntitlements.length;
      return verdict(
        'ENTITLEMENTS_MISSING',
        truncate(`The license lacks ${n} of the entitlements asked for: ${missingEntitlements.join(', ')}.`),
      );
    }
    let ok: Validation;
    if (fingerprints === null) ok = verdict('VALID', 'The license is valid.');
    else {
      if (view.machineCount === 0) return verdict('NO_MACHINE', 'The license has no active machines.');
      const one = fingerprints.length === 1;
      if (!fingerprintsMatch(row.machine_matching_strategy, row.fingerprint_matches, fingerprints.length)) {
        return verdict(
          'FINGERPRINT_NOT_ACTIVATED',
          one
            ? 'No active machine of the license has this fingerprint.'
            : `${row.fingerprint_matches} of the ${fingerprints.length} fingerprints belong to active machines of the license; its policy's ${row.machine_matching_strategy} needs more.`,
        );
      }
      // The statement put an alive match first: this one being dead means all matches are.
      if (machine && heartbeatStatus(machine.lastHeartbeatAt, machine.license.policy, now) === 'DEAD') {
        return verdict(
          'HEARTBEAT_DEAD',
          one
            ? 'The machine missed its heartbeat window and is dead.'
            : 'Every matched machine missed its heartbeat window and is dead.',
          machine,
        );
      }
      ok = verdict('VALID', 'The license is valid and the machine is activated.', machine);
    }
    // Warnings: the software may run. MAINTAIN_ACCESS: the code tells it the term is over; then
    // the vendor learns the license is over a limit.
    if (view.status === 'EXPIRED') {
      return verdict(
        'EXPIRED',
        `The license expired at ${license.expiresAt!.toISOString()}; its policy maintains access.`,
        ok.machine,
        true,
      );
    }
    if (machines === 'OVERAGE') return verdict('TOO_MANY_MACHINES', tooManyMachines(), ok.machine, true);
    if (cores === 'OVERAGE') return verdict('TOO_MANY_CORES', tooManyCores(), ok.machine, true);
    return ok;
  }

  /**
   * The license with its expiry started by this validation, or by a concurrent one that got there
   * first (then its row is read again: the conditional write found nothing to do).
   */
  async #startExpiryOnValidation(license: LicenseRecord, now: Date): Promise<LicenseRecord> {
    const started = await startExpiry(this.#em, license.id, 'FROM_FIRST_VALIDATION', now, this.#actor);
    if (started !== null) {
      this.#authCache?.forget();
      return toLicenseRecord(started);
    }
    const [row] = await execute<Record<string, unknown>[]>(
      this.#em,
      sql`select * from licenses where id = ${license.id}`,
    );
    return row ? toLicenseRecord(row) : license;
  }
}

/** A detail within the 256 characters the spec allows. */
function truncate(detail: string): string {
  return detail.length <= 256 ? detail : `${detail.slice(0, 255)}…`;
}
