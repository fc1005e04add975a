import type { EntityManager } from '@mikro-orm/postgresql';
import { arrayLiteral, execute, type Sql, sql } from '../db/sql.ts';
import {
  apiKeyJsonSql,
  entitlementJsonSql,
  licenseJsonSql,
  machineJsonSql,
  policyJsonSql,
  webhookEndpointJsonSql,
} from './objects.ts';
import type { EventType } from './types.ts';

export type Subject =
  | { machine: string }
  | { license: string }
  | { policy: string }
  | { entitlement: string }
  | { apiKey: string }
  | { webhookEndpoint: string };

function subjectInsert(type: EventType, subject: Subject, now: Date, details: Sql): Sql {
  const event = (licenseId: Sql, machineId: Sql, name: string, object: Sql) =>
    sql`select ${type}, ${now}, ${machineId}, ${licenseId}, json_build_object(${name}::text, ${object}${details})`;
  if ('machine' in subject) {
    return sql`${event(sql.raw('m.license_id'), sql.raw('m.id'), 'machine', machineJsonSql('m', 'p', now))}
      from machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id where m.id = ${subject.machine}`;
  }
  if ('license' in subject) {
    return sql`${event(sql.raw('l.id'), sql`null::uuid`, 'license', licenseJsonSql('l', now))} from licenses l where l.id = ${subject.license}`;
  }
  if ('policy' in subject) {
    return sql`${event(sql`null::uuid`, sql`null::uuid`, 'policy', policyJsonSql('p'))} from policies p where p.id = ${subject.policy}`;
  }
  if ('entitlement' in subject) {
    return sql`${event(sql`null::uuid`, sql`null::uuid`, 'entitlement', entitlementJsonSql('e'))} from entitlements e where e.id = ${subject.entitlement}`;
  }
  if ('apiKey' in subject) {
    return sql`${event(sql`null::uuid`, sql`null::uuid`, 'apiKey', apiKeyJsonSql('k'))} from api_keys k where k.id = ${subject.apiKey}`;
  }
  return sql`${event(sql`null::uuid`, sql`null::uuid`, 'webhookEndpoint', webhookEndpointJsonSql('w'))}
    from webhook_endpoints w where w.id = ${subject.webhookEndpoint}`;
}

/**
 * Writes one event about one object, rendered from its row as it stands in this transaction:
 * call it inside the transaction of the change, after the change is flushed. `details` are
 * further fields of `data` beside the object (a deactivation's reason).
 */
export async function recordEvent(
  em: EntityManager,
  type: EventType,
  subject: Subject,
  now: Date,
  details: Record<string, string | readonly string[]> = {},
): Promise<void> {
  const extra = Object.entries(details).map(([key, value]) =>
    typeof value === 'string'
      ? sql`, ${key}::text, ${value}::text`
      : sql`, ${key}::text, to_json(${arrayLiteral(value)}::text[])`,
  );
  await execute(
    em,
    sql`insert into events (type, occurred_at, machine_id, license_id, data) ${subjectInsert(type, subject, now, sql.join(extra, ''))}`,
  );
}
