import { pageQuery } from '../../core/pagination.ts';
import { Checks } from '../../core/validation.ts';
import { grants } from '../../keys/scopes.ts';
import { presentEvent, presentPage } from '../presenters.ts';
import type { Handlers, Principal } from '../types.ts';

/**
 * `api-key.*` events carry every key's name, scopes and token hint, which `GET /api-keys` shows
 * only to `admin`; `events:read` alone must not read them around it.
 */
const seesApiKeyEvents = (principal: Principal): boolean =>
  principal.kind === 'apiKey' && grants(principal.apiKey.scopes, 'admin');

const instant = (value: string | undefined): Date | undefined => (value === undefined ? undefined : new Date(value));

export const eventHandlers = {
  async listEvents({ query, principal, services }) {
    const occurredFrom = instant(query.occurredFrom);
    const occurredBefore = instant(query.occurredBefore);
    const checks = new Checks();
    checks.instant('/query/occurredFrom', occurredFrom);
    checks.instant('/query/occurredBefore', occurredBefore);
    checks.throwIfAny();
    const page = await services.events.list({
      ...pageQuery(query),
      type: query.type,
      licenseId: query.licenseId,
      machineId: query.machineId,
      actorType: query.actorType,
      actorId: query.actorId,
      occurredFrom,
      occurredBefore,
      apiKeyEvents: seesApiKeyEvents(principal),
    });
    return { status: 200, body: presentPage(page, presentEvent) };
  },

  async getEvent({ path, principal, services }) {
    return {
      status: 200,
      body: { data: presentEvent(await services.events.get(path.id, { apiKeyEvents: seesApiKeyEvents(principal) })) },
    };
  },
} satisfies Pick<Handlers, 'listEvents' | 'getEvent'>;
