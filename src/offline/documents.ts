/**
 * The JSON:API documents machine and license files carry. Attribute names and types follow
 * Keygen's serializers where Keygen has the field (`created`, not `createdAt`; `expiry`;
 * `cores` a number), because Keygen's SDKs decode the payload into typed structs and a
 * mismatched type fails their decoding; our own attributes come after them. Plain inputs, so
 * this module needs nothing from the domain folders: the check-out service maps its records.
 */

export interface FileLicense {
  id: string;
  /** The key as issued, when the request presented it; the server stores only a hash. */
  key: string | null;
  name: string | null;
  status: string;
  expiry: Date | null;
  policyId: string;
  productId: string | null;
  maxMachines: number | null;
  maxCores: number | null;
  metadata: Record<string, unknown>;
  created: Date;
  updated: Date;
}

export interface FileMachine {
  id: string;
  licenseId: string;
  fingerprint: string;
  name: string | null;
  platform: string | null;
  hostname: string | null;
  cores: number | null;
  /** The policy's: Keygen's machine has it, and keygen-rs refuses a machine without it. */
  requireHeartbeat: boolean;
  heartbeatStatus: string;
  /** Seconds, or null where the policy has no heartbeat. */
  heartbeatDuration: number | null;
  lastHeartbeat: Date;
  metadata: Record<string, unknown>;
  created: Date;
  updated: Date;
}

export interface FileEntitlement {
  id: string;
  code: string;
  name: string;
  metadata: Record<string, unknown>;
  created: Date;
  updated: Date;
}

export interface FilePolicy {
  id: string;
  productId: string | null;
  name: string;
  /** Seconds a license lasts, or null. */
  duration: number | null;
  maxMachines: number | null;
  maxCores: number | null;
  requireHeartbeat: boolean;
  heartbeatDuration: number;
  expirationStrategy: string;
  overageStrategy: string;
  metadata: Record<string, unknown>;
  created: Date;
  updated: Date;
}

export interface FileTerms {
  issued: Date;
  /** Seconds the file is good for, or null for a file that never expires. */
  ttl: number | null;
}

type Identifier = { type: string; id: string };
type Resource = Identifier & { attributes: Record<string, unknown>; relationships: Record<string, unknown> };

export interface FileDocument {
  data: Resource;
  included: Resource[];
  meta: { issued: string; expiry: string | null; ttl: number | null };
}

const linkage = (type: string, id: string | null) => ({ data: id === null ? null : { type, id } });

function meta({ issued, ttl }: FileTerms): FileDocument['meta'] {
  if (ttl !== null && (!Number.isSafeInteger(ttl) || ttl <= 0)) throw new Error('ttl is a positive whole number');
  const expiry = ttl === null ? null : new Date(issued.getTime() + ttl * 1000).toISOString();
  return { issued: issued.toISOString(), expiry, ttl };
}

export function licenseResource(license: FileLicense): Resource {
  return {
    type: 'licenses',
    id: license.id,
    attributes: {
      name: license.name,
      key: license.key,
      expiry: license.expiry?.toISOString() ?? null,
      status: license.status,
      maxMachines: license.maxMachines,
      maxCores: license.maxCores,
      metadata: license.metadata,
      created: license.created.toISOString(),
      updated: license.updated.toISOString(),
    },
    relationships: {
      policy: linkage('policies', license.policyId),
      product: linkage('products', license.productId),
    },
  };
}

export function entitlementResource(entitlement: FileEntitlement): Resource {
  return {
    type: 'entitlements',
    id: entitlement.id,
    attributes: {
      name: entitlement.name,
      code: entitlement.code,
      metadata: entitlement.metadata,
      created: entitlement.created.toISOString(),
      updated: entitlement.updated.toISOString(),
    },
    relationships: {},
  };
}

export function policyResource(policy: FilePolicy): Resource {
  return {
    type: 'policies',
    id: policy.id,
    attributes: {
      name: policy.name,
      duration: policy.duration,
      maxMachines: policy.maxMachines,
      maxCores: policy.maxCores,
      requireHeartbeat: policy.requireHeartbeat,
      heartbeatDuration: policy.heartbeatDuration,
      expirationStrategy: policy.expirationStrategy,
      overageStrategy: policy.overageStrategy,
      metadata: policy.metadata,
      created: policy.created.toISOString(),
      updated: policy.updated.toISOString(),
    },
    relationships: { product: linkage('products', policy.productId) },
  };
}

/** A machine file's document: the machine, with its license, policy and entitlements when included. */
export function machineFileDocument(input: {
  machine: FileMachine;
  license?: FileLicense;
  policy?: FilePolicy;
  entitlements?: FileEntitlement[];
  terms: FileTerms;
}): FileDocument {
  const { machine } = input;
  return {
    data: {
      type: 'machines',
      id: machine.id,
      attributes: {
        fingerprint: machine.fingerprint,
        name: machine.name,
        platform: machine.platform,
        hostname: machine.hostname,
        cores: machine.cores,
        requireHeartbeat: machine.requireHeartbeat,
        heartbeatStatus: machine.heartbeatStatus,
        heartbeatDuration: machine.heartbeatDuration,
        lastHeartbeat: machine.lastHeartbeat.toISOString(),
        metadata: machine.metadata,
        created: machine.created.toISOString(),
        updated: machine.updated.toISOString(),
      },
      relationships: { license: linkage('licenses', machine.licenseId) },
    },
    included: [
      ...(input.license ? [licenseResource(input.license)] : []),
      ...(input.policy ? [policyResource(input.policy)] : []),
      ...(input.entitlements ?? []).map(entitlementResource),
    ],
    meta: meta(input.terms),
  };
}

/** A license file's document: the license, with its policy and entitlements when included. */
export function licenseFileDocument(input: {
  license: FileLicense;
  policy?: FilePolicy;
  entitlements?: FileEntitlement[];
  terms: FileTerms;
}): FileDocument {
  return {
    data: licenseResource(input.license),
    included: [
      ...(input.policy ? [policyResource(input.policy)] : []),
      ...(input.entitlements ?? []).map(entitlementResource),
    ],
    meta: meta(input.terms),
  };
}
