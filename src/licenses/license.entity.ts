import { defineEntity, p } from '@mikro-orm/core';
import { Policy } from '../policies/policy.entity.ts';

/** A license: the right to run the product, identified by a key we only store a keyed hash of. */
const LicenseSchema = defineEntity({
  name: 'License',
  tableName: 'licenses',
  properties: {
    id: p.uuid().primary(),
    policy: () => p.manyToOne(Policy),
    /** HMAC-SHA-256 of the canonical key under the server secret. */
    keyHash: p.blob().columnType('bytea').unique(),
    /** The id of the secret `keyHash` was made under (src/core/sealing.ts); null: before ids were recorded. */
    keySecretId: p.text().nullable(),
    /** The key's prefix and last group, e.g. `DSK-…-W8RF3`. */
    keyHint: p.text(),
    name: p.text().nullable(),
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    expiresAt: p.datetime(3).nullable(),
    /** Waiting for the first activation or validation to set `expiresAt` (the policy's expiration basis). */
    expiryPending: p.boolean(),
    suspendedAt: p.datetime(3).nullable(),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
  },
});

export class License extends LicenseSchema.class {}
LicenseSchema.setClass(License);
