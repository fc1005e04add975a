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
  const limit = Math.min(Math.max(Math.trunc(query.limit), 1), MAX_PAGE_SIZE);
  const filter = (query.cursor !== undefined && isUuid(query.cursor)
    ? { $and: [where, { id: { $gt: query.cursor } }] }
    : where) as FilterQuery<T>;
  const rows = await em.find(entity, filter as never, { ...options, orderBy: { id: 'asc' }, limit: limit + 1 } as FindOptions<T>);
  const items = rows.slice(0, limit) as T[];
  return { items, nextCursor: items.at(-1)?.id ?? null, hasMore: rows.length > limit };
}
