import { presentLicense, presentPage } from '../../http/presenters.ts';
import { LICENSE_STATUSES, type LicenseStatus } from '../../licenses/licenses.service.ts';
import { dateOption, oneOf, PAGE_OPTIONS, pageOptions, required, text } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

/** `licentric licenses <verb>`. */
export const LICENSE_COMMANDS: Record<string, Command> = {
  'licenses create': data({
    usage: '--policy POLICY_ID [--name NAME] [--expires-at ISO_DATE_TIME|never]',
    summary:
      "The expiry must not have passed (EXPIRES_IN_PAST); without one, the policy's duration decides; the key is printed once",
    options: { policy: { type: 'string' }, name: { type: 'string' }, 'expires-at': { type: 'string' } },
    async run({ values }, services) {
      const { license, key } = await services.licenses.create({
        policyId: required(values, 'policy'),
        name: text(values, 'name') ?? null,
        expiresAt: dateOption(values, 'expires-at', 'never'),
      });
      const [view] = await services.licenses.views([license]);
      output(
        values,
        { ...presentLicense(view!), key },
        `Created license ${license.id}. Its key, shown only this once:\n\n  ${key}\n`,
      );
    },
  }),

  'licenses list': data({
    usage: `[--policy POLICY_ID] [--status ${LICENSE_STATUSES.join('|')}] [--cursor ID] [--limit N]`,
    options: { ...PAGE_OPTIONS, policy: { type: 'string' }, status: { type: 'string' } },
    async run({ values }, services) {
      const page = await services.licenses.list({
        ...pageOptions(values),
        policyId: text(values, 'policy'),
        status: oneOf<LicenseStatus>(values, 'status', LICENSE_STATUSES),
      });
      output(
        values,
        presentPage(page, presentLicense),
        table([
          ['ID', 'KEY', 'STATUS', 'MACHINES', 'EXPIRES', 'NAME'],
          ...page.items.map((v) => [
            v.license.id,
            v.license.keyHint,
            v.status,
            String(v.machineCount),
            v.license.expiresAt?.toISOString() ?? 'never',
            v.license.name ?? '',
          ]),
        ]) + pageFooter(page),
      );
    },
  }),

  'licenses get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const license = presentLicense(await services.licenses.view(id!));
      output(values, license, JSON.stringify(license, null, 2));
    },
  }),

  'licenses update': data({
    usage: 'ID [--name NAME|none] [--expires-at ISO_DATE_TIME|never] [--policy POLICY_ID]',
    options: { name: { type: 'string' }, 'expires-at': { type: 'string' }, policy: { type: 'string' } },
    takesId: true,
    async run({ values, id }, services) {
      const name = text(values, 'name');
      const view = await services.licenses.update(id!, {
        name: name === 'none' ? null : name,
        expiresAt: dateOption(values, 'expires-at', 'never'),
        policyId: text(values, 'policy'),
      });
      output(values, presentLicense(view), `Updated license ${view.license.id}.`);
    },
  }),

  'licenses suspend': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const view = await services.licenses.setSuspended(id!, true);
      output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
    },
  }),

  'licenses reinstate': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const view = await services.licenses.setSuspended(id!, false);
      output(values, presentLicense(view), `License ${view.license.id} is ${view.status}.`);
    },
  }),

  'licenses renew': data({
    usage: 'ID',
    summary: "Extends the expiry by the policy's duration (POLICY_HAS_NO_DURATION without one)",
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const view = await services.licenses.renew(id!);
      output(
        values,
        presentLicense(view),
        `Renewed license ${view.license.id}: it expires at ${view.license.expiresAt!.toISOString()}.`,
      );
    },
  }),

  'licenses delete': data({
    usage: 'ID',
    summary: "Deactivates the license's machines too",
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.licenses.delete(id!);
      output(values, { id, deleted: true }, `Deleted license ${id}; its machines were deactivated.`);
    },
  }),
};
