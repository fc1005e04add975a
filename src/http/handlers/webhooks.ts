import { pageQuery } from '../../core/pagination.ts';
import { presentPage, presentWebhookDelivery, presentWebhookDispatch, presentWebhookEndpoint } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const webhookHandlers = {
  async createWebhookEndpoint({ body, services }) {
    const { endpoint, secret } = await services.webhookEndpoints.create(body);
    return { status: 201, body: { data: { ...presentWebhookEndpoint(endpoint), secret } } };
  },

  async listWebhookEndpoints({ query, services }) {
    return {
      status: 200,
      body: presentPage(await services.webhookEndpoints.list(pageQuery(query)), presentWebhookEndpoint),
    };
  },

  async getWebhookEndpoint({ path, services }) {
    return { status: 200, body: { data: presentWebhookEndpoint(await services.webhookEndpoints.get(path.id)) } };
  },

  async updateWebhookEndpoint({ path, body, services }) {
    return {
      status: 200,
      body: { data: presentWebhookEndpoint(await services.webhookEndpoints.update(path.id, body)) },
    };
  },

  async deleteWebhookEndpoint({ path, services }) {
    await services.webhookEndpoints.delete(path.id);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },

  async rotateWebhookEndpointSecret({ path, services }) {
    const { endpoint, secret } = await services.webhookEndpoints.rotateSecret(path.id);
    return { status: 200, body: { data: { ...presentWebhookEndpoint(endpoint), secret } } };
  },

  async sendWebhookEndpointTest({ path, services }) {
    return { status: 202, body: { data: presentWebhookDispatch(await services.webhookEndpoints.sendTest(path.id)) } };
  },

  async listWebhookDeliveries({ path, query, services }) {
    return {
      status: 200,
      body: presentPage(await services.webhookEndpoints.deliveries(path.id, pageQuery(query)), presentWebhookDelivery),
    };
  },

  async redeliverWebhookDelivery({ path, services }) {
    return {
      status: 202,
      body: { data: presentWebhookDispatch(await services.webhookEndpoints.redeliver(path.id, path.deliveryId)) },
    };
  },
} satisfies Pick<
  Handlers,
  | 'createWebhookEndpoint'
  | 'listWebhookEndpoints'
  | 'getWebhookEndpoint'
  | 'updateWebhookEndpoint'
  | 'deleteWebhookEndpoint'
  | 'rotateWebhookEndpointSecret'
  | 'sendWebhookEndpointTest'
  | 'listWebhookDeliveries'
  | 'redeliverWebhookDelivery'
>;
