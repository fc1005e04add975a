import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  EntitlementCodeTaken,
  EntitlementLimitExceeded,
  EntitlementNotFound,
  LicenseNotFound,
  PolicyNotFound,
  UnknownEntitlements,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { type Page, type PageQuery, pageOf, pageWindow } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import { arrayLiteral, execute, type Sql, sql } from '../db/sql.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent, type Subject } from '../events/record.ts';
import { type Entitlement, toEntitlement } from './entitlement-record.ts';
import { entitlementSubject } from './events.ts';

export type { Entitlement } from './entitlement-record.ts';

/** An entitlement code: an upper-case letter, then up to 63 of A–Z, 0–9 and `_` (never a UUID). */
export const ENTITLEMENT_CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * At most this many on one policy and on one license: validation answers carry a license's
 * effective entitlements on every call, so their number is bounded (200 at most).
 */
export const MAX_ENTITLEMENTS_PER_OWNER = 100;

/** At most this many codes or ids in one attach or detach, as the spec bounds the list. */
export const MAX_ENTITLEMENT_REFS = 100;

export interface EntitlementInput {
  code: string;
  name: string;
  metadata?: Record<string, unknown>;
}

export type EntitlementSource = 'POLICY' | 'LICENSE';

/** One of a license's effective entitlements and where it comes from. */
export interface LicenseEntitlement {
  entitlement: Entitlement;
  sources: EntitlementSource[];
}

function check(input: Partial<EntitlementInput>): void {
  const checks = new Checks();
  if (input.code !== undefined && !ENTITLEMENT_CODE_PATTERN.test(input.code)) {
    checks.fail('/code', 'must be an upper-case letter, then up to 63 of A–Z, 0–9 and _');
  }
  checks.text('/name', input.name, { min: 1, max: 255 });
  checks.metadata('/metadata', input.metadata);
  checks.throwIfAny();
}

/** What entitlements hang on: a policy (every license of it has them) or one license. */
interface Owner {
  kind: 'policy' | 'license';
  id: string;
}

const OWNERS = {
  policy: { table: 'policies', joinTable: 'policy_entitlements', column: 'policy_id' },
  license: { table: 'licenses', joinTable: 'license_entitlements', column: 'license_id' },
} as const;

/**
 * How the events of an attach or detach render their policy or license: given by the composition
 * root (services.ts), since those folders sit above this one and render their own objects.
 */
export type OwnerSubjects = Record<Owner['kind'], (id: string) => Subject>;

export class EntitlementsService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #owners: OwnerSubjects;
  readonly #limit: string | null;

  /** `limit`: the one product an API key is limited to; other products' policies and licenses are not found for it. */
  constructor(
    em: EntityManager,
    clock: Clock,
    actor: Actor | null,
    owners: OwnerSubjects,
    limit: string | null = null,
  ) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#owners = owners;
    this.#limit = limit;
  }

  async create(input: EntitlementInput): Promise<Entitlement> {
    const fields = {
      metadata: {},
      ...pick(input, ['code', 'name', 'metadata'] as const),
    } as Required<EntitlementInput>;
    check(fields);
    const now = this.#clock.now();
    return this.#unique(fields.code, () =>
      this.#em.transactional(async (em) => {
        const [row] = await execute<Record<string, unknown>[]>(
          em,
          sql`insert into entitlements (id, code, name, metadata, created_at, updated_at)
              values (${uuidv7()}, ${fields.code}, ${fields.name}, ${JSON.stringify(fields.metadata)}::json, ${now}, ${now})
              returning *`,
        );
        const entitlement = toEntitlement(row!);
        await recordEvent(em, 'entitlement.created', entitlementSubject(entitlement.id), now, this.#actor);
        return entitlement;
      }),
    );
  }

  async list(query: PageQuery): Promise<Page<Entitlement>> {
    const { limit, after } = pageWindow(query);
    const rows = await execute<Record<string, unknown>[]>(
      this.#em,
      after === undefined
        ? sql`select * from entitlements order by id limit ${limit + 1}`
        : sql`select * from entitlements where id > ${after} order by id limit ${limit + 1}`,
    );
    return pageOf(rows.map(toEntitlement), limit);
  }

  async get(id: string): Promise<Entitlement> {
    const [row] = isUuid(id)
      ? await execute<Record<string, unknown>[]>(this.#em, sql`select * from entitlements where id = ${id}`)
      : [];
    if (!row) throw new EntitlementNotFound(id);
    return toEntitlement(row);
  }

  /** Applies a merge patch; `metadata` merges key by key, under the row's lock. */
  async update(id: string, patch: Partial<EntitlementInput>): Promise<Entitlement> {
    const changes = pick(patch, ['code', 'name', 'metadata'] as const);
    return this.#unique(changes.code, () =>
      this.#em.transactional(async (em) => {
        const [row] = isUuid(id)
          ? await execute<Record<string, unknown>[]>(em, sql`select * from entitlements where id = ${id} for update`)
          : [];
        if (!row) throw new EntitlementNotFound(id);
        const current = toEntitlement(row);
        const metadata = changes.metadata === undefined ? undefined : mergePatch(current.metadata, changes.metadata);
        check({ ...changes, metadata });
        const now = this.#clock.now();
        const next = { ...current, ...changes, ...(metadata ? { metadata } : {}) };
        const [updated] = await execute<Record<string, unknown>[]>(
          em,
          sql`update entitlements set code = ${next.code}, name = ${next.name},
                     metadata = ${JSON.stringify(next.metadata)}::json, updated_at = ${now}
               where id = ${current.id} returning *`,
        );
        await recordEvent(em, 'entitlement.updated', entitlementSubject(current.id), now, this.#actor);
        return toEntitlement(updated!);
      }),
    );
  }

  /** Runs a write that may take a code; the unique index decides races, and the loser is told. */
  async #unique<T>(code: string | undefined, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException && code !== undefined) {
        throw new EntitlementCodeTaken(code);
      }
      throw error;
    }
  }

  /**
   * Deletes an entitlement and, by the join tables' cascade, detaches it from every policy and
   * license in the same statement. The event is written first, while the row can still be
   * rendered.
   */
  async delete(id: string): Promise<void> {
    await this.#em.transactional(async (em) => {
      const [row] = isUuid(id)
        ? await execute<{ id: string }[]>(em, sql`select id from entitlements where id = ${id} for update`)
        : [];
      if (!row) throw new EntitlementNotFound(id);
      await recordEvent(em, 'entitlement.deleted', entitlementSubject(row.id), this.#clock.now(), this.#actor);
      await execute(em, sql`delete from entitlements where id = ${row.id}`);
    });
  }

  /** The entitlements attached to a live policy, by code. */
  async ofPolicy(policyId: string): Promise<Entitlement[]> {
    await this.#liveOwner(this.#em, { kind: 'policy', id: policyId }, false);
    return this.#attached(this.#em, { kind: 'policy', id: policyId });
  }

  /** A live license's effective entitlements (its policy's and its own), by code, with their sources. */
  async ofLicense(licenseId: string): Promise<LicenseEntitlement[]> {
    await this.#liveOwner(this.#em, { kind: 'license', id: licenseId }, false);
    const rows = await execute<(Record<string, unknown> & { sources: EntitlementSource[] })[]>(
      this.#em,
      sql`select e.*, array_remove(array[
                case when exists (select 1 from policy_entitlements pe where pe.policy_id = l.policy_id and pe.entitlement_id = e.id) then 'POLICY' end,
                case when exists (select 1 from license_entitlements le where le.license_id = l.id and le.entitlement_id = e.id) then 'LICENSE' end
              ], null) as sources
            from licenses l
            join entitlements e on e.id in (
              select pe.entitlement_id from policy_entitlements pe where pe.policy_id = l.policy_id
              union select le.entitlement_id from license_entitlements le where le.license_id = l.id)
           where l.id = ${licenseId}
           order by e.code`,
    );
    return rows.map((row) => ({ entitlement: toEntitlement(row), sources: row.sources }));
  }

  /**
   * Attaches entitlements to a policy or a license, all or nothing. The owner's row is locked, so
   * concurrent attaches to one owner run one after another and the limit holds; the join table's
   * primary key makes attaching twice one row (`on conflict do nothing`). An event is written
   * only when something was attached.
   */
  async attach(owner: Owner, refs: string[]): Promise<void> {
    await this.#change(owner, refs, 'attached', async (em, ids, now) => {
      const { joinTable, column } = OWNERS[owner.kind];
      const inserted = await execute<{ entitlement_id: string }[]>(
        em,
        sql`insert into ${sql.raw(joinTable)} (${sql.raw(column)}, entitlement_id, created_at)
            select ${owner.id}::uuid, e, ${now} from unnest(${arrayLiteral(ids)}::uuid[]) as e
            on conflict do nothing returning entitlement_id`,
      );
      const [{ count }] = await execute<[{ count: number }]>(
        em,
        sql`select count(*)::int as count from ${sql.raw(joinTable)} where ${sql.raw(column)} = ${owner.id}`,
      );
      if (count > MAX_ENTITLEMENTS_PER_OWNER) throw new EntitlementLimitExceeded(MAX_ENTITLEMENTS_PER_OWNER, count);
      return inserted.map((row) => row.entitlement_id);
    });
  }

  /** Detaches entitlements from a policy or a license, all or nothing; one not attached is no error. */
  async detach(owner: Owner, refs: string[]): Promise<void> {
    await this.#change(owner, refs, 'detached', async (em, ids) => {
      const { joinTable, column } = OWNERS[owner.kind];
      const deleted = await execute<{ entitlement_id: string }[]>(
        em,
        sql`delete from ${sql.raw(joinTable)} where ${sql.raw(column)} = ${owner.id}
              and entitlement_id = any(${arrayLiteral(ids)}::uuid[]) returning entitlement_id`,
      );
      return deleted.map((row) => row.entitlement_id);
    });
  }

  /** Resolves the references, applies the change and records what it really changed, in one transaction. */
  async #change(
    owner: Owner,
    refs: string[],
    change: 'attached' | 'detached',
    apply: (em: EntityManager, ids: string[], now: Date) => Promise<string[]>,
  ): Promise<void> {
    const checks = new Checks();
    if (refs.length === 0 || refs.length > MAX_ENTITLEMENT_REFS) {
      checks.fail('/entitlements', `must name 1–${MAX_ENTITLEMENT_REFS} entitlements`);
    }
    refs.forEach((ref, i) => {
      if (!ENTITLEMENT_CODE_PATTERN.test(ref) && !isUuid(ref))
        checks.fail(`/entitlements/${i}`, 'must be a code or a UUID');
    });
    checks.throwIfAny();
    await this.#em.transactional(async (em) => {
      await this.#liveOwner(em, owner, true);
      const ids = await this.#resolve(em, refs);
      const now = this.#clock.now();
      const changed = await apply(em, ids, now);
      if (changed.length === 0) return;
      const codes = await execute<{ code: string }[]>(
        em,
        sql`select code from entitlements where id = any(${arrayLiteral(changed)}::uuid[]) order by code`,
      );
      await recordEvent(
        em,
        `${owner.kind}.entitlements.${change}`,
        this.#owners[owner.kind](owner.id),
        now,
        this.#actor,
        {
          entitlements: codes.map((row) => row.code),
        },
      );
    });
  }

  /** For a key limited to a product: the owner must be that product's policy, or a license under one. */
  #withinLimit(owner: Owner): Sql {
    if (this.#limit === null) return sql``;
    return owner.kind === 'policy'
      ? sql`and product_id = ${this.#limit}`
      : sql`and policy_id in (select p.id from policies p where p.product_id = ${this.#limit})`;
  }

  /**
   * The live owner, or its not-found error. `lock`: held for the transaction, so that changes to
   * one owner's entitlements serialise (and, for a policy, wait for a deletion to decide).
   */
  async #liveOwner(em: EntityManager, owner: Owner, lock: boolean): Promise<void> {
    const { table } = OWNERS[owner.kind];
    const rows = isUuid(owner.id)
      ? await execute<{ id: string }[]>(
          em,
          sql`select id from ${sql.raw(table)} where id = ${owner.id} and deleted_at is null ${this.#withinLimit(owner)}
                ${sql.raw(lock ? 'for no key update' : '')}`,
        )
      : [];
    if (rows.length === 0) throw owner.kind === 'policy' ? new PolicyNotFound(owner.id) : new LicenseNotFound(owner.id);
  }

  /** The ids of the entitlements named by code or id, each once; any unknown one refuses them all. */
  async #resolve(em: EntityManager, refs: string[]): Promise<string[]> {
    const ids = refs.filter((ref) => isUuid(ref)).map((ref) => ref.toLowerCase());
    const codes = refs.filter((ref) => !isUuid(ref));
    const rows = await execute<{ id: string; code: string }[]>(
      em,
      sql`select id, code from entitlements
           where id = any(${arrayLiteral(ids)}::uuid[]) or code = any(${arrayLiteral(codes)}::text[])`,
    );
    const known = new Set(rows.flatMap((row) => [row.id, row.code]));
    const unknown = [...new Set(refs.filter((ref) => !known.has(isUuid(ref) ? ref.toLowerCase() : ref)))];
    if (unknown.length > 0) throw new UnknownEntitlements(unknown);
    return rows.map((row) => row.id);
  }

  async #attached(em: EntityManager, owner: Owner): Promise<Entitlement[]> {
    const { joinTable, column } = OWNERS[owner.kind];
    const rows = await execute<Record<string, unknown>[]>(
      em,
      sql`select e.* from ${sql.raw(joinTable)} j join entitlements e on e.id = j.entitlement_id
           where j.${sql.raw(column)} = ${owner.id} order by e.code`,
    );
    return rows.map(toEntitlement);
  }
}
