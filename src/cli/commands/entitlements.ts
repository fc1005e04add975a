import type { EntitlementsService } from '../../entitlements/entitlements.service.ts';
import { presentEntitlement, presentLicenseEntitlement, presentPage } from '../../http/presenters.ts';
import { type Options, PAGE_OPTIONS, pageOptions, required, text, type Values } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

const ENTITLEMENT_OPTIONS: Options = { code: { type: 'string' }, name: { type: 'string' } };

/** `--entitlements PRO_EXPORT,<uuid>`: codes or ids, comma-separated. */
function refs(values: Values): string[] {
  return required(values, 'entitlements')
    .split(',')
    .map((ref) => ref.trim())
    .filter((ref) => ref !== '');
}

type Owner = 'policy' | 'license';

/** Lists, attaches and detaches the entitlements of a policy or a license. */
function ownerCommands(group: 'policies' | 'licenses', kind: Owner): Record<string, Command> {
  async function show(values: Values, id: string, services: { entitlements: EntitlementsService }, note: string) {
    if (kind === 'policy') {
      const list = (await services.entitlements.ofPolicy(id)).map(presentEntitlement);
      output(values, list, `${note}${table([['CODE', 'NAME', 'ID'], ...list.map((e) => [e.code, e.name, e.id])])}`);
    } else {
      const list = (await services.entitlements.ofLicense(id)).map(presentLicenseEntitlement);
      output(
        values,
        list,
        `${note}${table([['CODE', 'NAME', 'FROM', 'ID'], ...list.map((e) => [e.code, e.name, e.sources.join('+'), e.id])])}`,
      );
    }
  }
  return {
    [`${group} entitlements`]: data({
      usage: 'ID',
      summary:
        kind === 'policy'
          ? "The policy's entitlements"
          : "The license's effective entitlements and where each comes from",
      options: {},
      takesId: true,
      async run({ values, id }, services) {
        await show(values, id!, services, '');
      },
    }),
    [`${group} attach-entitlements`]: data({
      usage: 'ID --entitlements CODE|ID[,CODE|ID…]',
      options: { entitlements: { type: 'string' } },
      takesId: true,
      async run({ values, id }, services) {
        await services.entitlements.attach({ kind, id: id! }, refs(values));
        await show(values, id!, services, `Attached to ${kind} ${id}.\n`);
      },
    }),
    [`${group} detach-entitlements`]: data({
      usage: 'ID --entitlements CODE|ID[,CODE|ID…]',
      options: { entitlements: { type: 'string' } },
      takesId: true,
      async run({ values, id }, services) {
        await services.entitlements.detach({ kind, id: id! }, refs(values));
        await show(values, id!, services, `Detached from ${kind} ${id}.\n`);
      },
    }),
  };
}

export const POLICY_ENTITLEMENT_COMMANDS = ownerCommands('policies', 'policy');
export const LICENSE_ENTITLEMENT_COMMANDS = ownerCommands('licenses', 'license');

/** `licentric entitlements <verb>`. */
export const ENTITLEMENT_COMMANDS: Record<string, Command> = {
  'entitlements create': data({
    usage: '--code CODE --name NAME',
    options: ENTITLEMENT_OPTIONS,
    async run({ values }, services) {
      const entitlement = await services.entitlements.create({
        code: required(values, 'code'),
        name: required(values, 'name'),
      });
      output(values, presentEntitlement(entitlement), `Created entitlement ${entitlement.id} (${entitlement.code}).`);
    },
  }),

  'entitlements list': data({
    usage: '[--cursor ID] [--limit N]',
    options: PAGE_OPTIONS,
    async run({ values }, services) {
      const page = await services.entitlements.list(pageOptions(values));
      output(
        values,
        presentPage(page, presentEntitlement),
        table([['ID', 'CODE', 'NAME'], ...page.items.map((e) => [e.id, e.code, e.name])]) + pageFooter(page),
      );
    },
  }),

  'entitlements get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const entitlement = presentEntitlement(await services.entitlements.get(id!));
      output(values, entitlement, JSON.stringify(entitlement, null, 2));
    },
  }),

  'entitlements update': data({
    usage: 'ID [--code CODE] [--name NAME]',
    options: ENTITLEMENT_OPTIONS,
    takesId: true,
    async run({ values, id }, services) {
      const entitlement = await services.entitlements.update(id!, {
        code: text(values, 'code'),
        name: text(values, 'name'),
      });
      output(values, presentEntitlement(entitlement), `Updated entitlement ${entitlement.id}.`);
    },
  }),

  'entitlements delete': data({
    usage: 'ID',
    summary: 'Deletes it and detaches it from every policy and license',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.entitlements.delete(id!);
      output(values, { id, deleted: true }, `Deleted entitlement ${id}.`);
    },
  }),
};
