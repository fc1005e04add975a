import { defineEntity, p } from '@mikro-orm/core';

/** An API key: a vendor backend's credential, with scopes. Only a keyed hash of its token is kept. */
const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    tokenHash: p.blob().columnType('bytea').unique(),
    /** The id of the secret `tokenHash` was made under (src/core/sealing.ts); null: before ids were recorded. */
    tokenSecretId: p.text().nullable(),
    /** What listings show of the token, e.g. `lct_3fK9aQ…x2Lp`. */
    tokenHint: p.text(),
    scopes: p.array().columnType('text[]'),
    /** The product the key is limited to; null: all. */
    productId: p.uuid().nullable(),
    expiresAt: p.datetime(3).nullable(),
    revokedAt: p.datetime(3).nullable(),
    lastUsedAt: p.datetime(3).nullable(),
    createdAt: p.datetime(3),
  },
});

export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);
