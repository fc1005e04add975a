import { defineEntity, p } from '@mikro-orm/core';

/** A product: what a vendor sells. Policies (and so licenses and machines) belong to one. */
const ProductSchema = defineEntity({
  name: 'Product',
  tableName: 'products',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    /** Unique among live products (a partial unique index). */
    code: p.text(),
    url: p.text().nullable(),
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
  },
});

export class Product extends ProductSchema.class {}
ProductSchema.setClass(Product);
