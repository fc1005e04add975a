import type { EntityManager, EntityName, FilterQuery, FindOptions } from '@mikro-orm/postgresql';
import { isBigintId, isUuid } from './ids.ts';

export interface PageQuery {
  /** The id of the last item of the previous page, as that page gave it (`nextCursor`). */
  cursor?: string;
  limit: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  hasMore: boolean;
}

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;

/** A list request's cursor and page size, the size defaulted as the spec declares it. */
export function pageQuery(query: { cursor?: string; limit?: number }): PageQuery {
  return { cursor: query.cursor, limit: query.limit ?? DEFAULT_PAGE_SIZE };
}

/**
 * What a keyset is ordered by: a UUIDv7 id (creation order), or a bigint identity, which the API
 * writes as a decimal string and must compare as a number ("10" follows "9").
 */
export type KeyKind = 'uuid' | 'bigint';

/**
 * The page size to use and the key to start after. The cursor is the last item's id, as the
 * previous page gave it; the spec refuses a malformed one (400) before it gets here, and a caller
 * that bypasses HTTP (the CLI) gets the first page for it.
 */
export function pageWindow(
  query: PageQuery,
  kind: KeyKind = 'uuid',
): { limit: number; after: string | bigint | undefined } {
  const limit = Math.min(Math.max(Math.trunc(query.limit), 1), MAX_PAGE_SIZE);
  const { cursor } = query;
  if (cursor === undefined) return { limit, after: undefined };
  if (kind === 'bigint') return { limit, after: isBigintId(cursor) ? BigInt(cursor) : undefined };
  return { limit, after: isUuid(cursor) ? cursor : undefined };
}

/** A page from up to `limit + 1` items in key order; one extra tells whether another page follows. */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: items.at(-1)?.id ?? null, hasMore: rows.length > limit };
}

/**
 * Keyset pagination of entities in id order. Ids are UUIDv7, so id order is creation order and
 * page 10 000 costs what page 1 does. Plain-SQL lists page with `keysetPage` (`db/keyset.ts`).
 */
export async function findPage<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  query: PageQuery,
  options: Pick<FindOptions<T>, 'populate'> = {},
): Promise<Page<T>> {
  const { limit, after } = pageWindow(query);
  const filter = (after !== undefined ? { $and: [where, { id: { $gt: after } }] } : where) as FilterQuery<T>;
  const rows = await em.find(
    entity,
    filter as never,
    { ...options, orderBy: { id: 'asc' }, limit: limit + 1 } as FindOptions<T>,
  );
  return pageOf(rows as T[], limit);
}
