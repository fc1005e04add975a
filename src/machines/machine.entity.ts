import { defineEntity, p } from '@mikro-orm/core';
import { License } from '../licenses/license.entity.ts';

export const PLATFORMS = ['macos', 'windows', 'linux', 'docker', 'kubernetes'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const DEACTIVATION_REASONS = ['MANUAL', 'HEARTBEAT_DEAD', 'LICENSE_DELETED'] as const;
export type DeactivationReason = (typeof DEACTIVATION_REASONS)[number];

/** A device activated under a license. Deactivation is a soft delete (`deletedAt`). */
const MachineSchema = defineEntity({
  name: 'Machine',
  tableName: 'machines',
  properties: {
    id: p.uuid().primary(),
    license: () => p.manyToOne(License),
    fingerprint: p.text(),
    name: p.text().nullable(),
    platform: p.enum(PLATFORMS).nullable(),
    hostname: p.text().nullable(),
    cores: p.integer().nullable(),
    // `json`, not `jsonb`: jsonb refuses the escape \u0000, which is valid JSON a client may send.
    metadata: p.json<Record<string, unknown>>().columnType('json'),
    lastHeartbeatAt: p.datetime(3),
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
    deactivationReason: p.enum(DEACTIVATION_REASONS).nullable(),
    /** When a KEEP_DEAD machine was found dead by the worker; cleared when it is revived. */
    deadAt: p.datetime(3).nullable(),
  },
});

export class Machine extends MachineSchema.class {}
MachineSchema.setClass(Machine);
