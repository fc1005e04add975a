import type { EntityManager } from '@mikro-orm/postgresql';
import { EventNotFound } from '../core/errors.ts';
import { MAX_PAGE_SIZE, type Page, type PageQuery } from '../core/pagination.ts';
import { execute, type Sql, sql } from '../db/sql.ts';
import type { EventType } from './types.ts';

/** An event as the log holds it. Ids are the log's identity, as decimal strings. */
export interface EventRecord {
  id: string;
  type: EventType;
  occurredAt: Date;
  licenseId: string | null;
  machineId: string | null;
  data: Record<string, unknown>;
}

export interface ListEventsQuery extends PageQuery {
  type?: EventType;
  licenseId?: string;
  machineId?: string;
  /** Inclusive. */
  occurredFrom?: Date;
  /** Exclusive. */
  occurredBefore?: Date;
  /** Whether `api-key.*` events are listed: they name every key, its scopes and token hint. */
  apiKeyEvents: boolean;
}

/** The events that describe API keys, for admin eyes only (see `ListEventsQuery.apiKeyEvents`). */
export const isApiKeyEvent = (type: string): boolean => type.startsWith('api-key.');

/** Event ids are bigint identities; anything that is not one names no event. */
const EVENT_ID = /^[1-9][0-9]{0,17}$/;

// The driver may hand timestamps back as text; the record holds a Date whatever it does.
const toRecord = (row: EventRecord): EventRecord => ({ ...row, occurredAt: new Date(row.occurredAt) });

// Ordering must name `events.id`: a bare `id` would be the text alias, and sort "10" before "2".
const COLUMNS = sql`id::text as id, type, occurred_at as "occurredAt", license_id as "licenseId", machine_id as "machineId", data`;

export class EventsService {
  readonly #em: EntityManager;

  constructor(em: EntityManager) {
    this.#em = em;
  }

  /** Events in log order, one page after `cursor`; one extra row tells whether more follow. */
  async list(query: ListEventsQuery): Promise<Page<EventRecord>> {
    const limit = Math.min(Math.max(Math.trunc(query.limit), 1), MAX_PAGE_SIZE);
    const where: Sql[] = [sql`true`];
    if (query.cursor !== undefined && EVENT_ID.test(query.cursor)) where.push(sql`id > ${query.cursor}::bigint`);
    if (query.type !== undefined) where.push(sql`type = ${query.type}`);
    if (query.licenseId !== undefined) where.push(sql`license_id = ${query.licenseId}`);
    if (query.machineId !== undefined) where.push(sql`machine_id = ${query.machineId}`);
    if (query.occurredFrom !== undefined) where.push(sql`occurred_at >= ${query.occurredFrom}`);
    if (query.occurredBefore !== undefined) where.push(sql`occurred_at < ${query.occurredBefore}`);
    if (!query.apiKeyEvents) where.push(sql`type not like 'api-key.%'`);
    const rows = await execute<EventRecord[]>(
      this.#em,
      sql`select ${COLUMNS} from events where ${sql.join(where, ' and ')} order by events.id limit ${limit + 1}`,
    );
    const items = rows.slice(0, limit).map(toRecord);
    return { items, nextCursor: items.at(-1)?.id ?? null, hasMore: rows.length > limit };
  }

  async get(id: string, options: { apiKeyEvents: boolean }): Promise<EventRecord> {
    const [row] = EVENT_ID.test(id)
      ? await execute<EventRecord[]>(this.#em, sql`select ${COLUMNS} from events where id = ${id}::bigint`)
      : [];
    if (!row || (!options.apiKeyEvents && isApiKeyEvent(row.type))) throw new EventNotFound(id);
    return toRecord(row);
  }
}
