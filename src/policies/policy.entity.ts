import { defineEntity, p } from '@mikro-orm/core';

export const CULL_STRATEGIES = ['DEACTIVATE_DEAD', 'KEEP_DEAD'] as const;
export type HeartbeatCullStrategy = (typeof CULL_STRATEGIES)[number];

// Entitlements and machine matching (issue 18).
export const MATCHING_STRATEGIES = ['MATCH_ANY', 'MATCH_MOST', 'MATCH_ALL'] as const;
export type MachineMatchingStrategy = (typeof MATCHING_STRATEGIES)[number];

/** A policy: the rules a family of licenses share (machine limit, key prefix, heartbeats). */
const PolicySchema = defineEntity({
  name: 'Policy',
  tableName: 'policies',
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    /** null: no limit. */
    maxMachines: p.integer().nullable(),
    keyPrefix: p.text(),
    requireHeartbeat: p.boolean(),
    /** Seconds a machine stays alive after a heartbeat. */
    heartbeatDuration: p.integer(),
    heartbeatCullStrategy: p.enum(CULL_STRATEGIES),
    /** Seconds after death during which a heartbeat still revives the machine. */
    heartbeatResurrectionWindow: p.integer(),
    // Entitlements and machine matching (issue 18).
    /** How a validation with several fingerprints decides that the machine is activated. */
    machineMatchingStrategy: p.enum(MATCHING_STRATEGIES),
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
  },
});

export class Policy extends PolicySchema.class {}
PolicySchema.setClass(Policy);
