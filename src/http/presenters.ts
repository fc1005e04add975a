import type { components } from '../../generated/api.d.ts';
import type { Page } from '../core/pagination.ts';
import type { Entitlement, LicenseEntitlement } from '../entitlements/entitlements.service.ts';
import type { EventRecord } from '../events/event-record.ts';
import type { ApiKey } from '../keys/api-key.entity.ts';
import type { LicenseView, Validation } from '../licenses/licenses.service.ts';
import { heartbeatStatus, nextHeartbeatAt } from '../machines/heartbeat.ts';
import type { MachineRecord } from '../machines/machine-record.ts';
import type { HeartbeatResult } from '../machines/machines.service.ts';
import { leaseExpiresAt, processHeartbeatStatus } from '../machines/process-lease.ts';
import type { ProcessRecord } from '../machines/process-record.ts';
import type { ProcessHeartbeatResult } from '../machines/processes.service.ts';
import { publicKeyForms, type SigningKey } from '../offline/signing-keys.ts';
import type { Policy } from '../policies/policy.entity.ts';
import type { Product } from '../products/product.entity.ts';
import type { WebhookAttemptRecord } from '../webhooks/attempt-record.ts';
import type { WebhookEndpointRecord } from '../webhooks/endpoint-record.ts';
import type { QueuedMessage } from '../webhooks/endpoints.service.ts';

type Schemas = components['schemas'];

/** A page of a list, in the envelope every list response shares. */
export function presentPage<T, W>(
  page: Page<T>,
  present: (item: T) => W,
): { data: W[]; pagination: Schemas['Pagination'] } {
  return { data: page.items.map(present), pagination: { nextCursor: page.nextCursor, hasMore: page.hasMore } };
}

/**
 * Entity → wire JSON. Timestamps are ISO 8601 with milliseconds, as the reference shows. The
 * heartbeat status is computed for `now`, from the machine's license's policy (which must be
 * loaded).
 */
export function presentMachine(machine: MachineRecord, now: Date): Schemas['Machine'] {
  const policy = machine.license.policy;
  const next = nextHeartbeatAt(machine.lastHeartbeatAt, policy);
  return {
    id: machine.id,
    licenseId: machine.license.id,
    productId: machine.license.policy.productId ?? null,
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
    heartbeatStatus: heartbeatStatus(machine.lastHeartbeatAt, policy, now),
    nextHeartbeatAt: next?.toISOString() ?? null,
    deactivationReason: machine.deactivationReason ?? null,
  };
}

export function presentHeartbeat(beat: HeartbeatResult): Schemas['MachineHeartbeat'] {
  return {
    id: beat.id,
    lastHeartbeatAt: beat.lastHeartbeatAt.toISOString(),
    heartbeatStatus: beat.status,
    nextHeartbeatAt: beat.nextHeartbeatAt?.toISOString() ?? null,
  };
}

export function presentPolicy(policy: Policy): Schemas['Policy'] {
  return {
    id: policy.id,
    name: policy.name,
    maxMachines: policy.maxMachines ?? null,
    keyPrefix: policy.keyPrefix,
    requireHeartbeat: policy.requireHeartbeat,
    heartbeatDuration: policy.heartbeatDuration,
    heartbeatCullStrategy: policy.heartbeatCullStrategy,
    heartbeatResurrectionWindow: policy.heartbeatResurrectionWindow,
    // Limits and overage (issue 18).
    maxCores: policy.maxCores ?? null,
    overageStrategy: policy.overageStrategy,
    machineUniquenessStrategy: policy.machineUniquenessStrategy,
    // Products (issue 18).
    productId: policy.productId ?? null,
    // Expiry, duration and renewal (issue 18).
    duration: policy.duration ?? null,
    expirationBasis: policy.expirationBasis,
    expirationStrategy: policy.expirationStrategy,
    renewalBasis: policy.renewalBasis,
    // Entitlements and machine matching (issue 18).
    machineMatchingStrategy: policy.machineMatchingStrategy,
    // Machine and license files (issue 19).
    checkOutTtl: policy.checkOutTtl,
    allowNonExpiringFiles: policy.allowNonExpiringFiles,
    // Processes: concurrent seats (issue 20).
    maxProcesses: policy.maxProcesses ?? null,
    processLeasingStrategy: policy.processLeasingStrategy,
    processHeartbeatDuration: policy.processHeartbeatDuration,
    metadata: policy.metadata,
    createdAt: policy.createdAt.toISOString(),
    updatedAt: policy.updatedAt.toISOString(),
  };
}

export function presentProduct(product: Product): Schemas['Product'] {
  return {
    id: product.id,
    name: product.name,
    code: product.code,
    url: product.url ?? null,
    metadata: product.metadata,
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
  };
}

export function presentLicense({
  license,
  status,
  machineCount,
  coreCount,
  productId,
}: LicenseView): Schemas['License'] {
  return {
    id: license.id,
    policyId: license.policy.id,
    productId,
    name: license.name ?? null,
    keyHint: license.keyHint,
    status,
    expiresAt: license.expiresAt?.toISOString() ?? null,
    suspendedAt: license.suspendedAt?.toISOString() ?? null,
    machineCount,
    // Limits and overage (issue 18).
    coreCount,
    metadata: license.metadata,
    createdAt: license.createdAt.toISOString(),
    updatedAt: license.updatedAt.toISOString(),
  };
}

export function presentApiKey(apiKey: ApiKey): Schemas['ApiKey'] {
  return {
    id: apiKey.id,
    name: apiKey.name,
    scopes: apiKey.scopes as Schemas['Scope'][],
    productId: apiKey.productId ?? null,
    tokenHint: apiKey.tokenHint,
    expiresAt: apiKey.expiresAt?.toISOString() ?? null,
    revokedAt: apiKey.revokedAt?.toISOString() ?? null,
    lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
    createdAt: apiKey.createdAt.toISOString(),
  };
}

export function presentValidation(validation: Validation, now: Date): Schemas['LicenseValidation'] {
  return {
    valid: validation.valid,
    code: validation.code,
    detail: validation.detail,
    license: presentLicense(validation.license),
    machine: validation.machine ? presentMachine(validation.machine, now) : null,
    entitlements: validation.entitlements,
    missingEntitlements: validation.missingEntitlements,
    processes: validation.processes,
  };
}

export function presentProcess(process: ProcessRecord, now: Date): Schemas['Process'] {
  return {
    id: process.id,
    machineId: process.machineId,
    licenseId: process.licenseId,
    productId: process.productId,
    pid: process.pid,
    metadata: process.metadata,
    lastHeartbeatAt: process.lastHeartbeatAt.toISOString(),
    heartbeatStatus: processHeartbeatStatus(process.lastHeartbeatAt, process.heartbeatDuration, now),
    nextHeartbeatAt: leaseExpiresAt(process.lastHeartbeatAt, process.heartbeatDuration).toISOString(),
    createdAt: process.createdAt.toISOString(),
  };
}

export function presentProcessHeartbeat(beat: ProcessHeartbeatResult): Schemas['ProcessLease'] {
  return {
    id: beat.id,
    lastHeartbeatAt: beat.lastHeartbeatAt.toISOString(),
    heartbeatStatus: 'ALIVE',
    nextHeartbeatAt: beat.nextHeartbeatAt.toISOString(),
  };
}

export function presentEntitlement(entitlement: Entitlement): Schemas['Entitlement'] {
  return {
    id: entitlement.id,
    code: entitlement.code,
    name: entitlement.name,
    metadata: entitlement.metadata,
    createdAt: entitlement.createdAt.toISOString(),
    updatedAt: entitlement.updatedAt.toISOString(),
  };
}

export function presentLicenseEntitlement({ entitlement, sources }: LicenseEntitlement): Schemas['LicenseEntitlement'] {
  return { ...presentEntitlement(entitlement), sources };
}

export function presentEvent(event: EventRecord): Schemas['Event'] {
  return {
    id: event.id,
    type: event.type,
    occurredAt: event.occurredAt.toISOString(),
    licenseId: event.licenseId,
    machineId: event.machineId,
    actor: event.actor,
    data: event.data,
  };
}

export function presentWebhookEndpoint(endpoint: WebhookEndpointRecord): Schemas['WebhookEndpoint'] {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes as Schemas['EventType'][] | null,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    consecutiveFailures: endpoint.consecutiveFailures,
    previousSecretExpiresAt: endpoint.previousSecretExpiresAt?.toISOString() ?? null,
    createdAt: endpoint.createdAt.toISOString(),
    updatedAt: endpoint.updatedAt.toISOString(),
  };
}

export function presentWebhookDelivery(attempt: WebhookAttemptRecord): Schemas['WebhookDelivery'] {
  return {
    id: attempt.id,
    webhookId: attempt.webhookId,
    eventId: attempt.eventId,
    type: attempt.type,
    attempt: attempt.attempt,
    attemptedAt: attempt.attemptedAt.toISOString(),
    succeeded: attempt.succeeded,
    statusCode: attempt.statusCode,
    latencyMs: attempt.latencyMs,
    error: attempt.error,
    responseExcerpt: attempt.responseExcerpt,
    nextAttemptAt: attempt.nextAttemptAt?.toISOString() ?? null,
  };
}

export function presentWebhookDispatch(message: QueuedMessage): Schemas['WebhookDispatch'] {
  return { webhookId: message.webhookId, type: message.type, queuedAt: message.queuedAt.toISOString() };
}

/** A signing key as published: its public key in three forms, never anything private. */
export function presentSigningKey(key: SigningKey): Schemas['SigningKey'] {
  const { hex, pem, jwk } = publicKeyForms(key);
  return {
    id: key.id,
    algorithm: key.algorithm,
    publicKey: hex,
    publicKeyPem: pem,
    jwk,
    status: key.status,
    createdAt: key.createdAt.toISOString(),
    activatedAt: key.activatedAt.toISOString(),
    retiredAt: key.retiredAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}
