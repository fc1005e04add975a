import { defineEntity, p } from '@mikro-orm/core';

/** A policy: the rules a family of licenses share (machine limit, key prefix). */
const PolicySchema = defineEntity({
  name: 'Policy',
  tableName: 'policies',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    /** null: no limit. */
    maxMachines: p.integer().nullable(),
    keyPrefix: p.text(),
    metadata: p.json<Record<string, unknown>>(),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
  },
});

export class Policy extends PolicySchema.class {}
PolicySchema.setClass(Policy);
