import type { components } from '../../generated/api.d.ts';
import type { Machine } from '../machines/machine.entity.ts';

type Schemas = components['schemas'];

/** Entity → wire JSON. Timestamps are ISO 8601 with milliseconds, as the reference shows. */
export function presentMachine(machine: Machine): Schemas['Machine'] {
  return {
    id: machine.id,
    licenseId: machine.license.id,
    fingerprint: machine.fingerprint,
    name: machine.name ?? null,
    platform: machine.platform ?? null,
    hostname: machine.hostname ?? null,
    cores: machine.cores ?? null,
    lastHeartbeatAt: machine.lastHeartbeatAt.toISOString(),
    createdAt: machine.createdAt.toISOString(),
    updatedAt: machine.updatedAt.toISOString(),
    deletedAt: machine.deletedAt?.toISOString() ?? null,
    metadata: machine.metadata,
  };
}
