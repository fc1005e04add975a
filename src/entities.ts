import { ApiKey } from './keys/api-key.entity.ts';
import { License } from './licenses/license.entity.ts';
import { Machine } from './machines/machine.entity.ts';
import { Policy } from './policies/policy.entity.ts';
import { Product } from './products/product.entity.ts';

/**
 * Every entity the ORM maps, passed to `initOrm` by whoever opens the database: `db/` sits
 * below the domain folders and imports none of them.
 */
export const ENTITIES = [Product, Policy, License, ApiKey, Machine];
