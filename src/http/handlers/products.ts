import { pageQuery } from '../../core/pagination.ts';
import { presentPage, presentProduct } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const productHandlers = {
  async createProduct({ body, services }) {
    const product = await services.products.create(body);
    return { status: 201, body: { data: presentProduct(product) } };
  },

  async listProducts({ query, services }) {
    const page = await services.products.list(pageQuery(query));
    return { status: 200, body: presentPage(page, presentProduct) };
  },

  async getProduct({ path, services }) {
    return { status: 200, body: { data: presentProduct(await services.products.get(path.id)) } };
  },

  async updateProduct({ path, body, services }) {
    return { status: 200, body: { data: presentProduct(await services.products.update(path.id, body)) } };
  },

  async deleteProduct({ path, services }) {
    await services.products.delete(path.id);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },
} satisfies Pick<Handlers, 'createProduct' | 'listProducts' | 'getProduct' | 'updateProduct' | 'deleteProduct'>;
