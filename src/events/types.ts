/**
 * Every event type, as `GET /events` and webhook deliveries name them. Each is written in the
 * same transaction as the change it reports (the events table is the outbox), and its `data`
 * carries the object as the API shows it at that instant, under the object's name.
 */
export const EVENT_TYPES = [
  'machine.activated',
  'machine.deactivated',
  'machine.heartbeat.dead',
  'machine.heartbeat.resurrected',
  'license.created',
  'license.updated',
  'license.suspended',
  'license.reinstated',
  'license.deleted',
  'license.expired',
  'license.overage',
  'license.renewed',
  'machine.checked-out',
  'license.checked-out',
  'policy.created',
  'policy.updated',
  'policy.deleted',
  'product.created',
  'product.updated',
  'product.deleted',
  'policy.entitlements.attached',
  'policy.entitlements.detached',
  'license.entitlements.attached',
  'license.entitlements.detached',
  'entitlement.created',
  'entitlement.updated',
  'entitlement.deleted',
  'api-key.created',
  'api-key.revoked',
  'webhook-endpoint.disabled',
  'signing-key.rotated',
  'signing-key.retired',
  'signing-key.revoked',
  'process.spawned',
  'process.released',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}
