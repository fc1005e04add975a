import { pageQuery } from '../../core/pagination.ts';
import { presentPage, presentPolicy } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const policyHandlers = {
  async createPolicy({ body, services }) {
    const policy = await services.policies.create(body);
    return { status: 201, body: { data: presentPolicy(policy) } };
  },

  async listPolicies({ query, services }) {
    const page = await services.policies.list(pageQuery(query));
    return { status: 200, body: presentPage(page, presentPolicy) };
  },

  async getPolicy({ path, services }) {
    return { status: 200, body: { data: presentPolicy(await services.policies.get(path.id)) } };
  },

  async updatePolicy({ path, body, services }) {
    return { status: 200, body: { data: presentPolicy(await services.policies.update(path.id, body)) } };
  },

  async deletePolicy({ path, services }) {
    await services.policies.delete(path.id);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },
} satisfies Pick<Handlers, 'createPolicy' | 'listPolicies' | 'getPolicy' | 'updatePolicy' | 'deletePolicy'>;
