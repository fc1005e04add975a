import { pageQuery } from '../../core/pagination.ts';
import { presentEvent, presentPage } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const eventHandlers = {
  async listEvents({ query, services }) {
    const page = await services.events.list({
      ...pageQuery(query),
      type: query.type,
      licenseId: query.licenseId,
      machineId: query.machineId,
      occurredFrom: query.occurredFrom === undefined ? undefined : new Date(query.occurredFrom),
      occurredBefore: query.occurredBefore === undefined ? undefined : new Date(query.occurredBefore),
    });
    return { status: 200, body: presentPage(page, presentEvent) };
  },

  async getEvent({ path, services }) {
    return { status: 200, body: { data: presentEvent(await services.events.get(path.id)) } };
  },
} satisfies Pick<Handlers, 'listEvents' | 'getEvent'>;
