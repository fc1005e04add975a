import { asDate } from '../db/sql.ts';

/**
 * An entitlement: a feature a policy or a license grants, asked for by its code (`PRO_EXPORT`).
 * A plain record read with plain SQL: entitlements live in their own tables and join tables,
 * and no entity of the ORM refers to them.
 */
export interface Entitlement {
  id: string;
  code: string;
  name: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** A `select * from entitlements` row as a record. */
export function toEntitlement(row: Record<string, unknown>): Entitlement {
  return {
    id: row.id as string,
    code: row.code as string,
    name: row.name as string,
    metadata: (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<string, unknown>,
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}
