/**
 * The audit events machines produce, one row each in `events`. Later consumers (webhooks) read
 * them in id order; the type names are part of that future contract.
 */
export const MACHINE_EVENTS = {
  /** A machine stopped counting: `data.reason` is MANUAL, HEARTBEAT_DEAD or LICENSE_DELETED. */
  deactivated: 'machine.deactivated',
  /** The worker found a KEEP_DEAD machine dead; it stays active for review. */
  heartbeatDead: 'machine.heartbeat.dead',
  /** A heartbeat revived a dead machine inside its resurrection window. */
  resurrected: 'machine.heartbeat.resurrected',
} as const;
