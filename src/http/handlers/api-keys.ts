import { pageQuery } from '../../core/pagination.ts';
import { presentApiKey, presentPage } from '../presenters.ts';
import { apiKeyOf } from '../security.ts';
import type { Handlers } from '../types.ts';

export const apiKeyHandlers = {
  async createApiKey({ body, principal, services }) {
    const { apiKey, token } = await services.apiKeys.create(
      {
        name: body.name,
        scopes: body.scopes,
        expiresAt: body.expiresAt == null ? null : new Date(body.expiresAt),
        productId: body.productId ?? null,
      },
      apiKeyOf(principal).scopes,
    );
    return { status: 201, body: { data: { ...presentApiKey(apiKey), token } } };
  },

  async listApiKeys({ query, services }) {
    const page = await services.apiKeys.list({ ...pageQuery(query), includeRevoked: query.includeRevoked ?? false });
    return { status: 200, body: presentPage(page, presentApiKey) };
  },

  async getCurrentApiKey({ principal, services }) {
    // Read afresh: the authenticated record carries neither the token hint nor the creation time.
    return { status: 200, body: { data: presentApiKey(await services.apiKeys.get(apiKeyOf(principal).id)) } };
  },

  async getApiKey({ path, services }) {
    return { status: 200, body: { data: presentApiKey(await services.apiKeys.get(path.id)) } };
  },

  async revokeApiKey({ path, services }) {
    return { status: 200, body: { data: presentApiKey(await services.apiKeys.revoke(path.id)) } };
  },
} satisfies Pick<Handlers, 'createApiKey' | 'listApiKeys' | 'getCurrentApiKey' | 'getApiKey' | 'revokeApiKey'>;
