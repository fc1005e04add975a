/**
 * Domain errors: what the licensing rules refuse, independent of HTTP. Each carries one stable
 * `code`; the HTTP layer maps every code to exactly one status (src/http/problem.ts), and adding
 * a code here without a status there fails to compile.
 */

/** One violation of an input rule, located by a JSON Pointer into the input. */
export interface FieldError {
  pointer: string;
  message: string;
}

/** What an error adds to its problem body beyond code and detail; a client branches on these. */
export interface ProblemFields {
  errors?: FieldError[];
  machineId?: string;
  unknownEntitlements?: string[];
  processCount?: number;
  oldestLeaseExpiresAt?: string;
}

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;

  /** What a client is told; `message` may say more, for logs and the CLI. */
  get detail(): string {
    return this.message;
  }

  /** Fields of the problem body that belong to this error, so the HTTP layer needs no case per class. */
  get problemFields(): ProblemFields {
    return {};
  }
}

export class InvalidInput extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  readonly errors: FieldError[];

  constructor(errors: FieldError[]) {
    super(errors.map((e) => `${e.pointer}: ${e.message}`).join('; '));
    this.errors = errors;
  }

  // The violations are in `errors`; the detail stays one sentence however many there are.
  override get detail(): string {
    return 'The request breaks the rules of this operation.';
  }

  override get problemFields(): ProblemFields {
    return { errors: this.errors };
  }
}

export class MachineNotFound extends DomainError {
  readonly code = 'MACHINE_NOT_FOUND';

  constructor(id: string) {
    super(`No machine ${id} is visible to these credentials.`);
  }
}

export class PolicyNotFound extends DomainError {
  readonly code = 'POLICY_NOT_FOUND';

  constructor(id: string) {
    super(`No policy ${id}.`);
  }
}

export class LicenseNotFound extends DomainError {
  readonly code = 'LICENSE_NOT_FOUND';

  /** `id` null: looked for by key, which the answer never repeats. */
  constructor(id: string | null) {
    super(id === null ? 'No license has this key.' : `No license ${id}.`);
  }
}

export class LicenseSuspended extends DomainError {
  readonly code = 'LICENSE_SUSPENDED';

  constructor() {
    super('The license is suspended.');
  }
}

export class LicenseExpired extends DomainError {
  readonly code = 'LICENSE_EXPIRED';

  constructor(expiresAt: Date) {
    super(`The license expired at ${expiresAt.toISOString()}.`);
  }
}

export class FingerprintTaken extends DomainError {
  readonly code = 'FINGERPRINT_TAKEN';
  readonly machineId: string;

  constructor(machineId: string) {
    super(`The fingerprint is already held by active machine ${machineId} of this license.`);
    this.machineId = machineId;
  }

  override get problemFields(): ProblemFields {
    return { machineId: this.machineId };
  }
}

export class MachineLimitExceeded extends DomainError {
  readonly code = 'MACHINE_LIMIT_EXCEEDED';

  constructor(limit: number) {
    super(`The license has reached its policy's limit of ${limit} active machine${limit === 1 ? '' : 's'}.`);
  }
}

export class CoreLimitExceeded extends DomainError {
  readonly code = 'CORE_LIMIT_EXCEEDED';

  constructor(cores: number, allowed: number) {
    super(`The license's active machines would have ${cores} cores; its policy allows ${allowed}.`);
  }
}

/** Which licenses a fingerprint must be unique among, as a refusal names them. */
export type UniquenessScope = 'policy' | 'product' | 'instance';

const SCOPE_WORDS: Record<UniquenessScope, string> = {
  policy: 'another license of this policy',
  product: "another license of this policy's product",
  instance: 'another license',
};

/** The holder is another license's machine: not this license's to see, so it goes unnamed. */
export class FingerprintTakenElsewhere extends DomainError {
  readonly code = 'FINGERPRINT_TAKEN_ELSEWHERE';

  constructor(scope: UniquenessScope) {
    super(`The fingerprint is already active on ${SCOPE_WORDS[scope]}.`);
  }
}

export class ApiKeyNotFound extends DomainError {
  readonly code = 'API_KEY_NOT_FOUND';

  constructor(id: string) {
    super(`No API key ${id}.`);
  }
}

export class EventNotFound extends DomainError {
  readonly code = 'EVENT_NOT_FOUND';

  constructor(id: string) {
    super(`No event ${id}.`);
  }
}

export class WebhookEndpointNotFound extends DomainError {
  readonly code = 'WEBHOOK_ENDPOINT_NOT_FOUND';

  constructor(id: string) {
    super(`No webhook endpoint ${id}.`);
  }
}

export class WebhookDeliveryNotFound extends DomainError {
  readonly code = 'WEBHOOK_DELIVERY_NOT_FOUND';

  constructor(id: string) {
    super(`No delivery ${id} to this webhook endpoint.`);
  }
}

export class UnknownPolicy extends DomainError {
  readonly code = 'UNKNOWN_POLICY';

  constructor(id: string) {
    super(`No policy ${id} to put the license under.`);
  }
}

export class PolicyInUse extends DomainError {
  readonly code = 'POLICY_IN_USE';

  constructor(licenses: number) {
    super(`The policy still has ${licenses} license${licenses === 1 ? '' : 's'}; delete or move them first.`);
  }
}

export class ProductNotFound extends DomainError {
  readonly code = 'PRODUCT_NOT_FOUND';

  constructor(id: string) {
    super(`No product ${id} is visible to these credentials.`);
  }
}

export class UnknownProduct extends DomainError {
  readonly code = 'UNKNOWN_PRODUCT';

  /** `id` null: no product, asked by credentials limited to one. */
  constructor(id: string | null) {
    super(
      id === null
        ? 'These credentials are limited to one product; what they create or move must belong to it.'
        : `No product ${id} is visible to these credentials.`,
    );
  }
}

export class ProductInUse extends DomainError {
  readonly code = 'PRODUCT_IN_USE';

  constructor(policies: number) {
    super(
      `The product still has ${policies} polic${policies === 1 ? 'y' : 'ies'}; delete them or move them to another product first.`,
    );
  }
}

export class ProductCodeTaken extends DomainError {
  readonly code = 'PRODUCT_CODE_TAKEN';

  constructor(code: string) {
    super(`Another product has the code ${code}.`);
  }
}

export class ScopeNotForProductKey extends DomainError {
  readonly code = 'SCOPE_NOT_FOR_PRODUCT_KEY';

  constructor(scopes: string[]) {
    super(`A key limited to one product cannot hold ${scopes.join(', ')}.`);
  }
}

export class LastAdminKey extends DomainError {
  readonly code = 'LAST_ADMIN_KEY';

  constructor() {
    super('This is the last active admin API key; create another admin key before revoking it.');
  }
}

export class ScopeNotGrantable extends DomainError {
  readonly code = 'SCOPE_NOT_GRANTABLE';

  constructor(scopes: string[]) {
    super(`An API key can only grant scopes it holds; this one lacks ${scopes.join(', ')}.`);
  }
}

export class MachineHeartbeatDead extends DomainError {
  readonly code = 'MACHINE_HEARTBEAT_DEAD';

  constructor(deadSince: Date) {
    super(
      `The machine has been dead since ${deadSince.toISOString()} and is past its resurrection window; activate it again.`,
    );
  }
}

export class ExpiresInPast extends DomainError {
  readonly code = 'EXPIRES_IN_PAST';

  constructor(expiresAt: Date) {
    super(`The expiry ${expiresAt.toISOString()} has passed: the key would be dead on arrival.`);
  }
}

export class WebhookUrlRefused extends DomainError {
  readonly code = 'WEBHOOK_URL_REFUSED';

  constructor(url: string, reason: string) {
    super(`Webhooks cannot be sent to ${url}: it ${reason}.`);
  }
}

// Expiry, duration and renewal (issue 18).
export class PolicyHasNoDuration extends DomainError {
  readonly code = 'POLICY_HAS_NO_DURATION';

  constructor() {
    super("The license's policy has no duration to renew it by.");
  }
}

export class ExpiryOutOfRange extends DomainError {
  readonly code = 'EXPIRY_OUT_OF_RANGE';

  constructor(expiresAt: Date) {
    super(`The renewed expiry ${expiresAt.toISOString()} would be after 9999-12-31T23:59:59Z.`);
  }
}

export class EntitlementNotFound extends DomainError {
  readonly code = 'ENTITLEMENT_NOT_FOUND';

  constructor(id: string) {
    super(`No entitlement ${id}.`);
  }
}

export class EntitlementCodeTaken extends DomainError {
  readonly code = 'ENTITLEMENT_CODE_TAKEN';

  constructor(code: string) {
    super(`Another entitlement already has the code ${code}.`);
  }
}

export class UnknownEntitlements extends DomainError {
  readonly code = 'UNKNOWN_ENTITLEMENTS';
  readonly unknown: string[];

  constructor(unknown: string[]) {
    super(`No entitlements ${unknown.join(', ')}; nothing was changed.`);
    this.unknown = unknown;
  }

  override get problemFields(): ProblemFields {
    return { unknownEntitlements: this.unknown };
  }
}

export class EntitlementLimitExceeded extends DomainError {
  readonly code = 'ENTITLEMENT_LIMIT_EXCEEDED';

  constructor(limit: number, count: number) {
    super(`A policy or license has at most ${limit} entitlements; this would make ${count}.`);
  }
}

export class TtlOutOfRange extends DomainError {
  readonly code = 'TTL_OUT_OF_RANGE';

  constructor(min: number, max: number, ttl: number) {
    super(`ttl must be between ${min} and ${max} seconds; got ${ttl}.`);
  }
}

export class NonExpiringFileNotAllowed extends DomainError {
  readonly code = 'NON_EXPIRING_FILE_NOT_ALLOWED';

  constructor() {
    super("The license's policy does not allow files that never expire (allowNonExpiringFiles is false).");
  }
}

/** The server keeps only a keyed hash of a license key, so it cannot encrypt with it unasked. */
export class EncryptionNeedsLicenseKey extends DomainError {
  readonly code = 'ENCRYPTION_NEEDS_LICENSE_KEY';

  constructor() {
    super('An encrypted file needs the license key: send it as licenseKey, or ask for encrypt: false.');
  }
}

export class LicenseKeyMismatch extends DomainError {
  readonly code = 'LICENSE_KEY_MISMATCH';

  constructor() {
    super("licenseKey is not this license's key.");
  }
}

// Signing keys (issue 19).
export class SigningKeyNotFound extends DomainError {
  readonly code = 'SIGNING_KEY_NOT_FOUND';

  constructor(id: string) {
    super(`No signing key ${id}.`);
  }
}

export class SigningKeyActive extends DomainError {
  readonly code = 'SIGNING_KEY_ACTIVE';

  constructor(id: string) {
    super(`The signing key ${id} is the active one; rotate first, then revoke it.`);
  }
}

export class SigningKeyRevoked extends DomainError {
  readonly code = 'SIGNING_KEY_REVOKED';

  constructor(id: string) {
    super(`The signing key ${id} is revoked.`);
  }
}

export class ProcessNotFound extends DomainError {
  readonly code = 'PROCESS_NOT_FOUND';

  constructor(id: string) {
    super(`No process ${id} is visible to these credentials.`);
  }
}

/** A spawn past `maxProcesses`: how many hold the seats, and when the first of them may free one. */
export class ProcessLimitExceeded extends DomainError {
  readonly code = 'PROCESS_LIMIT_EXCEEDED';
  readonly processCount: number;
  readonly oldestLeaseExpiresAt: Date;

  constructor(scope: 'machine' | 'license', processCount: number, limit: number, oldestLeaseExpiresAt: Date) {
    super(
      `${processCount} process${processCount === 1 ? '' : 'es'} hold the ${scope}'s ${limit} seat${limit === 1 ? '' : 's'}; ` +
        `the oldest lease expires at ${oldestLeaseExpiresAt.toISOString()}.`,
    );
    this.processCount = processCount;
    this.oldestLeaseExpiresAt = oldestLeaseExpiresAt;
  }

  override get problemFields(): ProblemFields {
    return { processCount: this.processCount, oldestLeaseExpiresAt: this.oldestLeaseExpiresAt.toISOString() };
  }
}

export class ProcessHeartbeatDead extends DomainError {
  readonly code = 'PROCESS_HEARTBEAT_DEAD';

  constructor(expiredAt: Date) {
    super(`The process's lease expired at ${expiredAt.toISOString()}; spawn a new process.`);
  }
}

export type DomainErrorCode =
  | 'VALIDATION_FAILED'
  | 'PROCESS_NOT_FOUND'
  | 'PROCESS_LIMIT_EXCEEDED'
  | 'PROCESS_HEARTBEAT_DEAD'
  | 'MACHINE_NOT_FOUND'
  | 'POLICY_NOT_FOUND'
  | 'LICENSE_NOT_FOUND'
  | 'LICENSE_SUSPENDED'
  | 'LICENSE_EXPIRED'
  | 'FINGERPRINT_TAKEN'
  | 'MACHINE_LIMIT_EXCEEDED'
  | 'CORE_LIMIT_EXCEEDED'
  | 'FINGERPRINT_TAKEN_ELSEWHERE'
  | 'API_KEY_NOT_FOUND'
  | 'EVENT_NOT_FOUND'
  | 'WEBHOOK_ENDPOINT_NOT_FOUND'
  | 'WEBHOOK_DELIVERY_NOT_FOUND'
  | 'UNKNOWN_POLICY'
  | 'POLICY_IN_USE'
  | 'PRODUCT_NOT_FOUND'
  | 'UNKNOWN_PRODUCT'
  | 'PRODUCT_IN_USE'
  | 'PRODUCT_CODE_TAKEN'
  | 'SCOPE_NOT_FOR_PRODUCT_KEY'
  | 'LAST_ADMIN_KEY'
  | 'SCOPE_NOT_GRANTABLE'
  | 'MACHINE_HEARTBEAT_DEAD'
  | 'EXPIRES_IN_PAST'
  | 'WEBHOOK_URL_REFUSED'
  // Expiry, duration and renewal (issue 18).
  | 'POLICY_HAS_NO_DURATION'
  | 'EXPIRY_OUT_OF_RANGE'
  | 'ENTITLEMENT_NOT_FOUND'
  | 'ENTITLEMENT_CODE_TAKEN'
  | 'UNKNOWN_ENTITLEMENTS'
  | 'ENTITLEMENT_LIMIT_EXCEEDED'
  // Machine and license files (issue 19).
  | 'TTL_OUT_OF_RANGE'
  | 'NON_EXPIRING_FILE_NOT_ALLOWED'
  | 'ENCRYPTION_NEEDS_LICENSE_KEY'
  | 'LICENSE_KEY_MISMATCH'
  // Signing keys (issue 19).
  | 'SIGNING_KEY_NOT_FOUND'
  | 'SIGNING_KEY_ACTIVE'
  | 'SIGNING_KEY_REVOKED';
