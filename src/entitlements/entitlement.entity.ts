import { defineEntity, p } from '@mikro-orm/core';

/** A feature a policy or a license grants, asked for by its code (`PRO_EXPORT`). */
const EntitlementSchema = defineEntity({
  name: 'Entitlement',
  tableName: 'entitlements',
  properties: {
    id: p.uuid().primary(),
    /** Unique on the instance (a unique index, so two racing creations cannot both win). */
    code: p.text(),
    name: p.text(),
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
  },
});

export class Entitlement extends EntitlementSchema.class {}
EntitlementSchema.setClass(Entitlement);
