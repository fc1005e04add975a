import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import { ProductCodeTaken, ProductInUse, ProductNotFound, UnknownProduct } from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import { mergePatch } from '../core/merge-patch.ts';
import { findPage, type Page, type PageQuery } from '../core/pagination.ts';
import { Checks, pick } from '../core/validation.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent } from '../events/record.ts';
import { productSubject } from './events.ts';
import { Product } from './product.entity.ts';

export interface ProductSettings {
  name: string;
  code: string;
  /** null: none. */
  url: string | null;
  metadata: Record<string, unknown>;
}

export type CreateProductInput = Pick<ProductSettings, 'name' | 'code'> & Partial<ProductSettings>;
export type UpdateProductInput = Partial<ProductSettings>;

/** Upper snake case, like entitlement codes: with no hyphen, a code never reads as a UUID. */
export const PRODUCT_CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The spec's pattern, no stricter: the URL is shown to people, never fetched, so a schema-valid
 * one is stored as sent rather than refused by a parser the schema cannot describe.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const PRODUCT_URL_PATTERN = /^https?:\/\/[^\u0000-\u0020\u007f]+$/i;

function check(settings: Partial<ProductSettings>): void {
  const checks = new Checks();
  checks.text('/name', settings.name, { min: 1, max: 255 });
  if (settings.code !== undefined && !PRODUCT_CODE_PATTERN.test(settings.code)) {
    checks.fail('/code', 'must be 1–64 characters of A–Z, 0–9 and _, starting with a letter');
  }
  if (settings.url != null) {
    checks.text('/url', settings.url, { min: 1, max: 2048 });
    if (!PRODUCT_URL_PATTERN.test(settings.url)) checks.fail('/url', 'must be an http or https URL');
  }
  checks.metadata('/metadata', settings.metadata);
  checks.throwIfAny();
}

/** A unique violation of the code index, whichever request lost the race, as the domain says it. */
function codeTaken(error: unknown, code: string | undefined): unknown {
  return error instanceof UniqueConstraintViolationException && code !== undefined ? new ProductCodeTaken(code) : error;
}

export class ProductsService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #limit: string | null;

  /** `limit`: the one product an API key is limited to; the others are not found for it. */
  constructor(em: EntityManager, clock: Clock, actor: Actor | null, limit: string | null = null) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#limit = limit;
  }

  #visible(id: string): FilterQuery<Product> | null {
    if (!isUuid(id) || (this.#limit !== null && this.#limit !== id.toLowerCase())) return null;
    return { id, deletedAt: null };
  }

  async create(input: CreateProductInput): Promise<Product> {
    const settings: ProductSettings = {
      url: null,
      metadata: {},
      ...pick(input, SETTINGS),
      name: input.name,
      code: input.code,
    };
    check(settings);
    const now = this.#clock.now();
    try {
      return await this.#em.transactional(async (em) => {
        const product = em.create(Product, {
          id: uuidv7(),
          ...settings,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        await em.flush();
        await recordEvent(em, 'product.created', productSubject(product.id), now, this.#actor);
        return product;
      });
    } catch (error) {
      throw codeTaken(error, settings.code);
    }
  }

  async list(query: PageQuery): Promise<Page<Product>> {
    const where: FilterQuery<Product> = { deletedAt: null };
    if (this.#limit !== null) where.id = this.#limit;
    return findPage(this.#em, Product, where, query);
  }

  /** A live (not deleted) product these credentials may see. */
  async get(id: string): Promise<Product> {
    const where = this.#visible(id);
    const product = where ? await this.#em.findOne(Product, where) : null;
    if (!product) throw new ProductNotFound(id);
    return product;
  }

  /** The live product with this code, or null: for the CLI, where an operator types codes. */
  async byCode(code: string): Promise<Product | null> {
    const product = await this.#em.findOne(Product, { code, deletedAt: null });
    return product && (this.#limit === null || product.id === this.#limit) ? product : null;
  }

  /**
   * The live product a policy or an API key is to belong to, share-locked for the rest of the
   * transaction so that a concurrent deletion of the product waits for it (and then sees the
   * policy) instead of leaving a live policy under a deleted product.
   */
  async lockForUse(em: EntityManager, id: string): Promise<Product> {
    const where = this.#visible(id);
    const product = where ? await em.findOne(Product, where, { lockMode: LockMode.PESSIMISTIC_READ }) : null;
    if (!product) throw new UnknownProduct(id);
    return product;
  }

  /** Applies a merge patch; `metadata` merges key by key. */
  async update(id: string, patch: UpdateProductInput): Promise<Product> {
    const changes = pick(patch, SETTINGS);
    const product = await this.get(id);
    const metadata = changes.metadata === undefined ? undefined : mergePatch(product.metadata, changes.metadata);
    check({ ...changes, metadata });
    const now = this.#clock.now();
    this.#em.assign(product, { ...changes, ...(metadata ? { metadata } : {}), updatedAt: now });
    try {
      await this.#em.transactional(async (em) => {
        await em.flush();
        await recordEvent(em, 'product.updated', productSubject(product.id), now, this.#actor);
      });
    } catch (error) {
      throw codeTaken(error, changes.code);
    }
    return product;
  }

  /**
   * Deletes a product no live policy belongs to. Soft: deleted policies keep pointing at it, and
   * its code is free again. The row lock conflicts with the share lock a policy creation or move
   * takes on its product (lockForUse), so the two serialise.
   */
  async delete(id: string): Promise<void> {
    await this.#em.transactional(async (em) => {
      const where = this.#visible(id);
      const product = where ? await em.findOne(Product, where, { lockMode: LockMode.PESSIMISTIC_WRITE }) : null;
      if (!product) throw new ProductNotFound(id);
      // Plain SQL: the policies module imports this one (a policy's product), not the reverse.
      const [{ n: policies }] = await em.execute<[{ n: number }]>(
        'select count(*)::int as n from policies where product_id = ? and deleted_at is null',
        [product.id],
      );
      if (policies > 0) throw new ProductInUse(policies);
      const now = this.#clock.now();
      product.deletedAt = now;
      product.updatedAt = now;
      await em.flush();
      await recordEvent(em, 'product.deleted', productSubject(product.id), now, this.#actor);
    });
  }
}

const SETTINGS = ['name', 'code', 'url', 'metadata'] as const satisfies readonly (keyof ProductSettings)[];
