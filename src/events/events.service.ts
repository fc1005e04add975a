import type { EntityManager } from '@mikro-orm/postgresql';
import { EventNotFound } from '../core/errors.ts';
import { isBigintId } from '../core/ids.ts';
import type { Page, PageQuery } from '../core/pagination.ts';
import { keysetPage } from '../db/keyset.ts';
import { execute, type Sql, sql } from '../db/sql.ts';
import type { ActorType } from './actor.ts';
import { type EventRecord, type EventRecordRow, eventRecordColumns, toEventRecord } from './event-record.ts';
import type { EventType } from './types.ts';

export interface ListEventsQuery extends PageQuery {
  type?: EventType;
  licenseId?: string;
  machineId?: string;
  /** Only the events this actor type caused. */
  actorType?: ActorType;
  /** Only the events the API key or license with this id caused. */
  actorId?: string;
  /** Inclusive. */
  occurredFrom?: Date;
  /** Exclusive. */
  occurredBefore?: Date;
  /** Whether `api-key.*` events are listed: they name every key, its scopes and token hint. */
  apiKeyEvents: boolean;
}

/** The events that describe API keys, for admin eyes only (see `ListEventsQuery.apiKeyEvents`). */
export const isApiKeyEvent = (type: string): boolean => type.startsWith('api-key.');

export class EventsService {
  readonly #em: EntityManager;

  constructor(em: EntityManager) {
    this.#em = em;
  }

  /** Events in log order, one page after `cursor`. */
  async list(query: ListEventsQuery): Promise<Page<EventRecord>> {
    const where: Sql[] = [];
    if (query.type !== undefined) where.push(sql`type = ${query.type}`);
    if (query.licenseId !== undefined) where.push(sql`license_id = ${query.licenseId}`);
    if (query.machineId !== undefined) where.push(sql`machine_id = ${query.machineId}`);
    if (query.actorType !== undefined) where.push(sql`actor_type = ${query.actorType}`);
    if (query.actorId !== undefined) where.push(sql`actor_id = ${query.actorId}`);
    if (query.occurredFrom !== undefined) where.push(sql`occurred_at >= ${query.occurredFrom}`);
    if (query.occurredBefore !== undefined) where.push(sql`occurred_at < ${query.occurredBefore}`);
    if (!query.apiKeyEvents) where.push(sql`type not like 'api-key.%'`);
    return keysetPage(
      this.#em,
      {
        select: sql`select ${eventRecordColumns} from events`,
        where,
        key: 'events.id',
        kind: 'bigint',
        map: toEventRecord,
      },
      query,
    );
  }

  async get(id: string, options: { apiKeyEvents: boolean }): Promise<EventRecord> {
    const [row] = isBigintId(id)
      ? await execute<EventRecordRow[]>(
          this.#em,
          sql`select ${eventRecordColumns} from events where id = ${id}::bigint`,
        )
      : [];
    if (!row || (!options.apiKeyEvents && isApiKeyEvent(row.type))) throw new EventNotFound(id);
    return toEventRecord(row);
  }
}
