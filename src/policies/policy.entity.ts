import { defineEntity, p } from '@mikro-orm/core';
import { OVERAGE_STRATEGIES, UNIQUENESS_STRATEGIES } from './limits.ts';

export const CULL_STRATEGIES = ['DEACTIVATE_DEAD', 'KEEP_DEAD'] as const;
export type HeartbeatCullStrategy = (typeof CULL_STRATEGIES)[number];

// Expiry, duration and renewal (issue 18).
export const EXPIRATION_BASES = ['FROM_CREATION', 'FROM_FIRST_ACTIVATION', 'FROM_FIRST_VALIDATION'] as const;
export type ExpirationBasis = (typeof EXPIRATION_BASES)[number];
export const EXPIRATION_STRATEGIES = ['RESTRICT_ACCESS', 'REVOKE_ACCESS', 'MAINTAIN_ACCESS'] as const;
export type ExpirationStrategy = (typeof EXPIRATION_STRATEGIES)[number];
export const RENEWAL_BASES = ['FROM_EXPIRY', 'FROM_NOW', 'FROM_NOW_IF_EXPIRED'] as const;
export type RenewalBasis = (typeof RENEWAL_BASES)[number];

// Entitlements and machine matching (issue 18).
export const MATCHING_STRATEGIES = ['MATCH_ANY', 'MATCH_MOST', 'MATCH_ALL'] as const;
export type MachineMatchingStrategy = (typeof MATCHING_STRATEGIES)[number];

// Processes: concurrent seats (issue 20).
export const PROCESS_LEASING_STRATEGIES = ['PER_MACHINE', 'PER_LICENSE'] as const;
export type ProcessLeasingStrategy = (typeof PROCESS_LEASING_STRATEGIES)[number];

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
    // Limits and overage (issue 18).
    /** null: no limit. */
    maxCores: p.integer().nullable(),
    overageStrategy: p.enum(OVERAGE_STRATEGIES),
    machineUniquenessStrategy: p.enum(UNIQUENESS_STRATEGIES),
    // Products (issue 18).
    /** The product the policy belongs to; null: none. */
    productId: p.uuid().nullable(),
    // Expiry, duration and renewal (issue 18).
    /** Seconds a license lasts from its expiration basis; null: licenses do not expire by policy. */
    duration: p.integer().nullable(),
    expirationBasis: p.enum(EXPIRATION_BASES),
    expirationStrategy: p.enum(EXPIRATION_STRATEGIES),
    renewalBasis: p.enum(RENEWAL_BASES),
    // Entitlements and machine matching (issue 18).
    /** How a validation with several fingerprints decides that the machine is activated. */
    machineMatchingStrategy: p.enum(MATCHING_STRATEGIES),
    // Machine and license files (issue 19).
    /** Seconds a file checked out without a ttl is good for. */
    checkOutTtl: p.integer(),
    /** Whether a check-out may ask for a file that never expires. */
    allowNonExpiringFiles: p.boolean(),
    // Processes: concurrent seats (issue 20).
    /** null: no limit. */
    maxProcesses: p.integer().nullable(),
    processLeasingStrategy: p.enum(PROCESS_LEASING_STRATEGIES),
    /** Seconds a process keeps its lease after a heartbeat. */
    processHeartbeatDuration: p.integer(),
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
  },
});

export class Policy extends PolicySchema.class {}
PolicySchema.setClass(Policy);
