import { isUuid } from '../../core/ids.ts';
import { presentPage, presentProduct } from '../../http/presenters.ts';
import type { Services } from '../../services.ts';
import { type Options, PAGE_OPTIONS, pageOptions, required, text, UsageError, type Values } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

const PRODUCT_OPTIONS: Options = {
  name: { type: 'string' },
  code: { type: 'string' },
  url: { type: 'string' },
};

/**
 * `--product ID|CODE|none`: a product by its id or, as an operator types it, by its code; `none`
 * (where `none` is given) for no product. Absent: undefined.
 */
export async function productOption(
  values: Values,
  services: Services,
  none?: string,
): Promise<string | null | undefined> {
  const value = text(values, 'product');
  if (value === undefined) return undefined;
  if (none !== undefined && value === none) return null;
  if (isUuid(value)) return value;
  const product = await services.products.byCode(value);
  if (product === null) throw new UsageError(`--product: no product has the code ${value}`);
  return product.id;
}

/** `licentric products <verb>`. */
export const PRODUCT_COMMANDS: Record<string, Command> = {
  'products create': data({
    usage: '--name NAME --code CODE [--url URL]',
    options: PRODUCT_OPTIONS,
    async run({ values }, services) {
      const product = await services.products.create({
        name: required(values, 'name'),
        code: required(values, 'code'),
        url: text(values, 'url') ?? null,
      });
      output(values, presentProduct(product), `Created product ${product.id} (${product.code}, "${product.name}")`);
    },
  }),

  'products list': data({
    usage: '[--cursor ID] [--limit N]',
    options: PAGE_OPTIONS,
    async run({ values }, services) {
      const page = await services.products.list(pageOptions(values));
      output(
        values,
        presentPage(page, presentProduct),
        table([['ID', 'CODE', 'NAME', 'URL'], ...page.items.map((p) => [p.id, p.code, p.name, p.url ?? ''])]) +
          pageFooter(page),
      );
    },
  }),

  'products get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const product = presentProduct(await services.products.get(id!));
      output(values, product, JSON.stringify(product, null, 2));
    },
  }),

  'products update': data({
    usage: 'ID [--name NAME] [--code CODE] [--url URL|none]',
    options: PRODUCT_OPTIONS,
    takesId: true,
    async run({ values, id }, services) {
      const url = text(values, 'url');
      const product = await services.products.update(id!, {
        name: text(values, 'name'),
        code: text(values, 'code'),
        url: url === 'none' ? null : url,
      });
      output(values, presentProduct(product), `Updated product ${product.id}.`);
    },
  }),

  'products delete': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.products.delete(id!);
      output(values, { id, deleted: true }, `Deleted product ${id}.`);
    },
  }),
};
