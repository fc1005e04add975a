import { pageQuery } from '../../core/pagination.ts';
import { presentEntitlement, presentLicenseEntitlement, presentPage } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const entitlementHandlers = {
  async createEntitlement({ body, services }) {
    const entitlement = await services.entitlements.create(body);
    return { status: 201, body: { data: presentEntitlement(entitlement) } };
  },

  async listEntitlements({ query, services }) {
    const page = await services.entitlements.list(pageQuery(query));
    return { status: 200, body: presentPage(page, presentEntitlement) };
  },

  async getEntitlement({ path, services }) {
    return { status: 200, body: { data: presentEntitlement(await services.entitlements.get(path.id)) } };
  },

  async updateEntitlement({ path, body, services }) {
    return { status: 200, body: { data: presentEntitlement(await services.entitlements.update(path.id, body)) } };
  },

  async deleteEntitlement({ path, services }) {
    await services.entitlements.delete(path.id);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },

  async listPolicyEntitlements({ path, services }) {
    return { status: 200, body: { data: (await services.entitlements.ofPolicy(path.id)).map(presentEntitlement) } };
  },

  async attachPolicyEntitlements({ path, body, services }) {
    await services.entitlements.attach({ kind: 'policy', id: path.id }, body.entitlements);
    return { status: 200, body: { data: (await services.entitlements.ofPolicy(path.id)).map(presentEntitlement) } };
  },

  async detachPolicyEntitlements({ path, body, services }) {
    await services.entitlements.detach({ kind: 'policy', id: path.id }, body.entitlements);
    return { status: 200, body: { data: (await services.entitlements.ofPolicy(path.id)).map(presentEntitlement) } };
  },

  async listLicenseEntitlements({ path, services }) {
    const entitlements = await services.entitlements.ofLicense(path.id);
    return { status: 200, body: { data: entitlements.map(presentLicenseEntitlement) } };
  },

  async attachLicenseEntitlements({ path, body, services }) {
    await services.entitlements.attach({ kind: 'license', id: path.id }, body.entitlements);
    const entitlements = await services.entitlements.ofLicense(path.id);
    return { status: 200, body: { data: entitlements.map(presentLicenseEntitlement) } };
  },

  async detachLicenseEntitlements({ path, body, services }) {
    await services.entitlements.detach({ kind: 'license', id: path.id }, body.entitlements);
    const entitlements = await services.entitlements.ofLicense(path.id);
    return { status: 200, body: { data: entitlements.map(presentLicenseEntitlement) } };
  },
} satisfies Pick<
  Handlers,
  | 'createEntitlement'
  | 'listEntitlements'
  | 'getEntitlement'
  | 'updateEntitlement'
  | 'deleteEntitlement'
  | 'listPolicyEntitlements'
  | 'attachPolicyEntitlements'
  | 'detachPolicyEntitlements'
  | 'listLicenseEntitlements'
  | 'attachLicenseEntitlements'
  | 'detachLicenseEntitlements'
>;
