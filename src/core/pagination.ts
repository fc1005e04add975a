import type { EntityManager, EntityName, FilterQuery, FindOptions } from '@mikro-orm/postgresql';
import { isUuid } from './ids.ts';

export interface PageQuery {
  /** The id of the last item of the previous page. */
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
 * Keyset pagination in id order. Ids are UUIDv7, so id order is creation order and page 10 000
 * costs what page 1 does. One extra row tells whether another page follows.
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

/** The page size to use and the id to start after, for a hand-written keyset query. */
export function pageWindow(query: PageQuery): { limit: number; after: string | undefined } {
  const limit = Math.min(Math.max(Math.trunc(query.limit), 1), MAX_PAGE_SIZE);
  return { limit, after: query.cursor !== undefined && isUuid(query.cursor) ? query.cursor : undefined };
}

/** A page from up to `limit + 1` rows in id order. */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: items.at(-1)?.id ?? null, hasMore: rows.length > limit };
}
