import { DEFAULT_PAGE_SIZE } from '../../core/pagination.ts';
import { HttpProblem } from '../problem.ts';
import { presentApiKey, presentPage } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const apiKeyHandlers = {
  async createApiKey({ body, principal, services }) {
    if (principal.kind !== 'apiKey') throw new HttpProblem('INTERNAL_ERROR', 'expected API-key authentication');
    const { apiKey, token } = await services.apiKeys.create(
      { name: body.name, scopes: body.scopes, expiresAt: body.expiresAt == null ? null : new Date(body.expiresAt) },
      principal.apiKey.scopes,
    );
    return { status: 201, body: { data: { ...presentApiKey(apiKey), token } } };
  },

  async listApiKeys({ query, services }) {
    const page = await services.apiKeys.list({
      includeRevoked: query.includeRevoked ?? false,
      cursor: query.cursor,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
    });
    return { status: 200, body: presentPage(page, presentApiKey) };
  },

  async getApiKey({ path, services }) {
    return { status: 200, body: { data: presentApiKey(await services.apiKeys.get(path.id)) } };
  },

  async revokeApiKey({ path, services }) {
    return { status: 200, body: { data: presentApiKey(await services.apiKeys.revoke(path.id)) } };
  },
} satisfies Pick<Handlers, 'createApiKey' | 'listApiKeys' | 'getApiKey' | 'revokeApiKey'>;
