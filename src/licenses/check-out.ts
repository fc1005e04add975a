import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../core/clock.ts';
import {
  EncryptionNeedsLicenseKey,
  LicenseKeyMismatch,
  LicenseNotFound,
  MachineNotFound,
  NonExpiringFileNotAllowed,
  TtlOutOfRange,
} from '../core/errors.ts';
import { isUuid, uuidv7 } from '../core/ids.ts';
import type { SecretRing } from '../core/sealing.ts';
import { sql } from '../db/sql.ts';
import type { EntitlementsService } from '../entitlements/entitlements.service.ts';
import type { Actor } from '../events/actor.ts';
import { recordEvent, type Subject } from '../events/record.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { parseLicenseKey } from '../keys/license-key.ts';
import { machineJsonSql } from '../machines/events.ts';
import { heartbeatStatus } from '../machines/heartbeat.ts';
import { Machine } from '../machines/machine.entity.ts';
import {
  type FileDocument,
  type FileEntitlement,
  type FileLicense,
  type FilePolicy,
  licenseFileDocument,
  machineFileDocument,
} from '../offline/documents.ts';
import { ENCODED_ALGORITHM, ENCRYPTED_ALGORITHM, encodeFile, type FileKind } from '../offline/file.ts';
import { activeSigningKey } from '../offline/signing-keys.ts';
import { MAX_CHECK_OUT_TTL, MIN_CHECK_OUT_TTL } from '../policies/policies.service.ts';
import type { Policy } from '../policies/policy.entity.ts';
import { licenseSubject } from './events.ts';
import { License } from './license.entity.ts';
import { licenseStatus, refusalOf } from './status.ts';

export const CHECK_OUT_INCLUDES = ['license', 'policy', 'entitlements'] as const;
export type CheckOutInclude = (typeof CHECK_OUT_INCLUDES)[number];

export interface CheckOutRequest {
  /** Seconds; null for a file that never expires; absent for the policy's `checkOutTtl`. */
  ttl?: number | null;
  /** Absent: encrypt when the license key is at hand. */
  encrypt?: boolean;
  include?: readonly CheckOutInclude[];
  /** The license key sent in the body, checked against the stored hash. */
  licenseKey?: string;
}

/** Who asks: a license key (which sees only its own license) or an API key. */
export type CheckOutCaller = { kind: 'license'; licenseId: string; key: string } | { kind: 'apiKey' };

export interface CheckedOutFile {
  id: string;
  kind: FileKind;
  /** The machine's id for a machine file, the license's for a license file: the download's name. */
  subjectId: string;
  certificate: string;
  algorithm: typeof ENCRYPTED_ALGORITHM | typeof ENCODED_ALGORITHM;
  issued: Date;
  expiry: Date | null;
  ttl: number | null;
  keyId: string;
}

/** A signing problem that is the server's, not the request's: a 500, logged with this message. */
export class NoSigningKey extends Error {
  constructor() {
    super('no active signing key: the database was not migrated by this server (runtime.ts makes the first)');
  }
}

const DEFAULT_INCLUDES: Record<FileKind, readonly CheckOutInclude[]> = {
  machine: ['license', 'entitlements'],
  license: ['entitlements'],
};

/**
 * Machine and license files (docs/offline-design.md): finds what the caller may see, refuses
 * what the license's status and policy refuse, builds the JSON:API payload, signs it with the
 * active signing key and records the check-out. Nothing else is written: a file is issued, not
 * stored, so each check-out is a new file with a new id.
 */
export class CheckOutService {
  readonly #em: EntityManager;
  readonly #clock: Clock;
  readonly #actor: Actor | null;
  readonly #hasher: KeyHasher;
  readonly #secret: string | SecretRing;
  readonly #entitlements: EntitlementsService;
  readonly #limit: string | null;

  constructor(
    em: EntityManager,
    clock: Clock,
    actor: Actor | null,
    hasher: KeyHasher,
    secret: string | SecretRing,
    entitlements: EntitlementsService,
    limit: string | null = null,
  ) {
    this.#em = em;
    this.#clock = clock;
    this.#actor = actor;
    this.#hasher = hasher;
    this.#secret = secret;
    this.#entitlements = entitlements;
    this.#limit = limit;
  }

  /** A file for an active machine; with a license key, only one of that license's machines. */
  async machineFile(id: string, caller: CheckOutCaller, request: CheckOutRequest = {}): Promise<CheckedOutFile> {
    const machine = isUuid(id)
      ? await this.#em.findOne(
          Machine,
          {
            id,
            deletedAt: null,
            license: {
              deletedAt: null,
              ...(caller.kind === 'license' ? { id: caller.licenseId } : {}),
              ...(this.#limit === null ? {} : { policy: { productId: this.#limit } }),
            },
          },
          { populate: ['license.policy'] },
        )
      : null;
    if (!machine) throw new MachineNotFound(id);
    const license = machine.license;
    const policy = license.policy;
    const now = this.#clock.now();
    const terms = this.#terms(license, policy, caller, request, now);
    const include = new Set(request.include ?? DEFAULT_INCLUDES.machine);
    const payload = machineFileDocument({
      machine: {
        id: machine.id,
        licenseId: license.id,
        fingerprint: machine.fingerprint,
        name: machine.name ?? null,
        platform: machine.platform ?? null,
        hostname: machine.hostname ?? null,
        cores: machine.cores ?? null,
        requireHeartbeat: policy.requireHeartbeat,
        heartbeatStatus: heartbeatStatus(machine.lastHeartbeatAt, policy, now),
        heartbeatDuration: policy.requireHeartbeat ? policy.heartbeatDuration : null,
        lastHeartbeat: machine.lastHeartbeatAt,
        metadata: machine.metadata,
        created: machine.createdAt,
        updated: machine.updatedAt,
      },
      license: include.has('license') ? fileLicense(license, policy, terms.key, now) : undefined,
      policy: include.has('policy') ? filePolicy(policy) : undefined,
      entitlements: include.has('entitlements') ? await this.#fileEntitlements(license.id) : undefined,
      terms: { issued: now, ttl: terms.ttl },
    });
    return this.#issue('machine', machine.id, payload, terms, now, machine.fingerprint, machineSubject(machine.id));
  }

  /** A file for a live license: a license key's own, or any the API key may see. */
  async licenseFile(id: string, caller: CheckOutCaller, request: CheckOutRequest = {}): Promise<CheckedOutFile> {
    const license = isUuid(id)
      ? await this.#em.findOne(
          License,
          { id, deletedAt: null, ...(this.#limit === null ? {} : { policy: { productId: this.#limit } }) },
          { populate: ['policy'] },
        )
      : null;
    if (!license || (caller.kind === 'license' && caller.licenseId !== license.id)) throw new LicenseNotFound(id);
    const policy = license.policy;
    const now = this.#clock.now();
    const terms = this.#terms(license, policy, caller, request, now);
    const include = new Set(request.include ?? DEFAULT_INCLUDES.license);
    const payload = licenseFileDocument({
      license: fileLicense(license, policy, terms.key, now),
      policy: include.has('policy') ? filePolicy(policy) : undefined,
      entitlements: include.has('entitlements') ? await this.#fileEntitlements(license.id) : undefined,
      terms: { issued: now, ttl: terms.ttl },
    });
    return this.#issue('license', license.id, payload, terms, now, undefined, licenseSubject(license.id));
  }

  /**
   * The license's refusals first (403), then what the request asks (422): the ttl against its
   * bounds and the policy, then the key the file is to be encrypted with or carry.
   */
  #terms(
    license: License,
    policy: Policy,
    caller: CheckOutCaller,
    request: CheckOutRequest,
    now: Date,
  ): { ttl: number | null; key: string | null; encrypt: boolean } {
    const refusal = refusalOf(license, policy.expirationStrategy, 'checkOut', now);
    if (refusal) throw refusal;
    const ttl = request.ttl === undefined ? policy.checkOutTtl : request.ttl;
    if (ttl === null) {
      if (!policy.allowNonExpiringFiles) throw new NonExpiringFileNotAllowed();
    } else if (!Number.isSafeInteger(ttl) || ttl < MIN_CHECK_OUT_TTL || ttl > MAX_CHECK_OUT_TTL) {
      throw new TtlOutOfRange(MIN_CHECK_OUT_TTL, MAX_CHECK_OUT_TTL, ttl);
    }
    let key: string | null = caller.kind === 'license' ? caller.key : null;
    if (request.licenseKey !== undefined) {
      // The key as issued, whatever case or look-alike characters it was sent with: it is what
      // the vendor's software holds, so it is the one that must open the file.
      const canonical = parseLicenseKey(request.licenseKey);
      if (canonical === null || !this.#hasher.matches('license-key', canonical, license.keyHash))
        throw new LicenseKeyMismatch();
      key = canonical;
    }
    const encrypt = request.encrypt ?? key !== null;
    if (encrypt && key === null) throw new EncryptionNeedsLicenseKey();
    return { ttl, key, encrypt };
  }

  async #fileEntitlements(licenseId: string): Promise<FileEntitlement[]> {
    return (await this.#entitlements.ofLicense(licenseId)).map(({ entitlement }) => ({
      id: entitlement.id,
      code: entitlement.code,
      name: entitlement.name,
      metadata: entitlement.metadata,
      created: entitlement.createdAt,
      updated: entitlement.updatedAt,
    }));
  }

  async #issue(
    kind: FileKind,
    subjectId: string,
    payload: FileDocument,
    terms: { ttl: number | null; key: string | null; encrypt: boolean },
    now: Date,
    fingerprint: string | undefined,
    subject: Subject,
  ): Promise<CheckedOutFile> {
    const signing = await activeSigningKey(this.#em, this.#secret);
    if (!signing) throw new NoSigningKey();
    const certificate = encodeFile({
      kind,
      payload,
      privateKey: signing.privateKey,
      encrypt: terms.encrypt,
      licenseKey: terms.key ?? undefined,
      fingerprint,
    });
    const file: CheckedOutFile = {
      id: uuidv7(now.getTime()),
      kind,
      subjectId,
      certificate,
      algorithm: terms.encrypt ? ENCRYPTED_ALGORITHM : ENCODED_ALGORITHM,
      issued: now,
      expiry: payload.meta.expiry === null ? null : new Date(payload.meta.expiry),
      ttl: terms.ttl,
      keyId: signing.key.id,
    };
    await recordEvent(
      this.#em,
      kind === 'machine' ? 'machine.checked-out' : 'license.checked-out',
      subject,
      now,
      this.#actor,
      {
        file: {
          id: file.id,
          keyId: file.keyId,
          algorithm: file.algorithm,
          issued: payload.meta.issued,
          expiry: payload.meta.expiry,
          ttl: file.ttl,
        },
      },
    );
    return file;
  }
}

function fileLicense(license: License, policy: Policy, key: string | null, now: Date): FileLicense {
  return {
    id: license.id,
    key,
    name: license.name ?? null,
    status: licenseStatus(license, now),
    expiry: license.expiresAt ?? null,
    policyId: policy.id,
    productId: policy.productId ?? null,
    maxMachines: policy.maxMachines ?? null,
    maxCores: policy.maxCores ?? null,
    metadata: license.metadata,
    created: license.createdAt,
    updated: license.updatedAt,
  };
}

function filePolicy(policy: Policy): FilePolicy {
  return {
    id: policy.id,
    productId: policy.productId ?? null,
    name: policy.name,
    duration: policy.duration ?? null,
    maxMachines: policy.maxMachines ?? null,
    maxCores: policy.maxCores ?? null,
    requireHeartbeat: policy.requireHeartbeat,
    heartbeatDuration: policy.heartbeatDuration,
    expirationStrategy: policy.expirationStrategy,
    overageStrategy: policy.overageStrategy,
    metadata: policy.metadata,
    created: policy.createdAt,
    updated: policy.updatedAt,
  };
}

/** One machine with its policy, for `recordEvent`, as the machine's other events render it. */
function machineSubject(id: string): Subject {
  return {
    name: 'machine',
    from: sql`machines m join licenses l on l.id = m.license_id join policies p on p.id = l.policy_id where m.id = ${id}`,
    object: (now) => machineJsonSql('m', 'p', now),
    licenseId: sql.raw('m.license_id'),
    machineId: sql.raw('m.id'),
  };
}
