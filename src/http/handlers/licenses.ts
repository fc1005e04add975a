import { InvalidInput } from '../../core/errors.ts';
import { pageQuery } from '../../core/pagination.ts';
import { presentLicense, presentPage, presentValidation } from '../presenters.ts';
import { licenseOf } from '../security.ts';
import type { Handlers } from '../types.ts';

/** An ISO 8601 date-time the schema has already checked, or null/undefined as given. */
function date<T extends string | null | undefined>(value: T): Date | Exclude<T, string> {
  return (typeof value === 'string' ? new Date(value) : value) as Date | Exclude<T, string>;
}

export const licenseHandlers = {
  async createLicense({ body, services }) {
    const { license, key } = await services.licenses.create({ ...body, expiresAt: date(body.expiresAt) });
    const [view] = await services.licenses.views([license]);
    return { status: 201, body: { data: { ...presentLicense(view!), key } } };
  },

  async listLicenses({ query, services }) {
    const page = await services.licenses.list({
      ...pageQuery(query),
      policyId: query.policyId,
      status: query.status,
      search: query.search,
    });
    return { status: 200, body: presentPage(page, presentLicense) };
  },

  async getLicense({ path, services }) {
    return { status: 200, body: { data: presentLicense(await services.licenses.view(path.id)) } };
  },

  async lookupLicense({ body, services }) {
    return { status: 200, body: { data: presentLicense(await services.licenses.lookup(body.key)) } };
  },

  async updateLicense({ path, body, services }) {
    const view = await services.licenses.update(path.id, { ...body, expiresAt: date(body.expiresAt) });
    return { status: 200, body: { data: presentLicense(view) } };
  },

  async suspendLicense({ path, services }) {
    return { status: 200, body: { data: presentLicense(await services.licenses.setSuspended(path.id, true)) } };
  },

  async reinstateLicense({ path, services }) {
    return { status: 200, body: { data: presentLicense(await services.licenses.setSuspended(path.id, false)) } };
  },

  async renewLicense({ path, services }) {
    return { status: 200, body: { data: presentLicense(await services.licenses.renew(path.id)) } };
  },

  async deleteLicense({ path, services }) {
    await services.licenses.delete(path.id);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },

  async validateLicense({ body, principal, services }) {
    if (body?.fingerprint !== undefined && body.fingerprints !== undefined) {
      throw new InvalidInput([{ pointer: '/fingerprints', message: 'must not be sent with fingerprint' }]);
    }
    const fingerprints = body?.fingerprints ?? (body?.fingerprint === undefined ? undefined : [body.fingerprint]);
    const validation = await services.licenses.validate(licenseOf(principal), {
      fingerprints,
      entitlements: body?.entitlements,
      product: body?.product,
      policy: body?.policy,
    });
    const data = presentValidation(validation, services.clock.now());
    // Echoed so that a signed answer is bound to this request (a replayed one carries another nonce).
    return { status: 200, body: body?.nonce === undefined ? { data } : { data, meta: { nonce: body.nonce } } };
  },
} satisfies Pick<
  Handlers,
  | 'createLicense'
  | 'listLicenses'
  | 'getLicense'
  | 'lookupLicense'
  | 'updateLicense'
  | 'suspendLicense'
  | 'reinstateLicense'
  | 'renewLicense'
  | 'deleteLicense'
  | 'validateLicense'
>;
