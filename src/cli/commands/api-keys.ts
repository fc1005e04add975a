import { presentApiKey, presentPage } from '../../http/presenters.ts';
import { dateOption, PAGE_OPTIONS, pageOptions, required, scopesOption } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';
import { productOption } from './products.ts';

/** `licentric api-keys <verb>`. */
export const API_KEY_COMMANDS: Record<string, Command> = {
  'api-keys create': data({
    usage: '--name NAME --scopes SCOPE[,SCOPE...] [--expires-at ISO_DATE_TIME] [--product ID|CODE]',
    summary: 'The token is printed once; --product limits the key to one product',
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      'expires-at': { type: 'string' },
      product: { type: 'string' },
    },
    async run({ values }, services) {
      const { apiKey, token } = await services.apiKeys.create({
        name: required(values, 'name'),
        scopes: scopesOption(values),
        expiresAt: dateOption(values, 'expires-at') ?? null,
        productId: (await productOption(values, services)) ?? null,
      });
      output(
        values,
        { ...presentApiKey(apiKey), token },
        `Created API key ${apiKey.id} with scopes ${apiKey.scopes.join(', ')}${apiKey.productId ? `, limited to product ${apiKey.productId}` : ''}. Its token, shown only this once:\n\n  ${token}\n`,
      );
    },
  }),

  'api-keys list': data({
    usage: '[--include-revoked] [--cursor ID] [--limit N]',
    options: { ...PAGE_OPTIONS, 'include-revoked': { type: 'boolean' } },
    async run({ values }, services) {
      const page = await services.apiKeys.list({
        ...pageOptions(values),
        includeRevoked: values['include-revoked'] === true,
      });
      output(
        values,
        presentPage(page, presentApiKey),
        table([
          ['ID', 'NAME', 'TOKEN', 'SCOPES', 'LAST USED', 'REVOKED'],
          ...page.items.map((k) => [
            k.id,
            k.name,
            k.tokenHint,
            k.scopes.join(','),
            k.lastUsedAt?.toISOString() ?? 'never',
            k.revokedAt?.toISOString() ?? '',
          ]),
        ]) + pageFooter(page),
      );
    },
  }),

  'api-keys revoke': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const apiKey = await services.apiKeys.revoke(id!);
      output(values, presentApiKey(apiKey), `Revoked API key ${apiKey.id}.`);
    },
  }),
};
