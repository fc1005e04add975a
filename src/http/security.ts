import type { Context } from 'openapi-backend';
import { LicenseNotFound } from '../core/errors.ts';
import type { ApiKeyRecord } from '../keys/api-key-record.ts';
import { isWellFormedApiToken } from '../keys/api-token.ts';
import type { KeyHasher } from '../keys/hashing.ts';
import { parseLicenseKey } from '../keys/license-key.ts';
import { grants, isScope } from '../keys/scopes.ts';
import { immediateRefusal, licenseRefusal } from '../licenses/access.ts';
import type { LicenseRecord } from '../licenses/license-record.ts';
import type { Services } from '../services.ts';
import { HttpProblem } from './problem.ts';
import type { RequestState } from './request-state.ts';
import type { Principal } from './types.ts';
import { databaseUnavailable, securityFailure } from './unavailable.ts';

/** The scheme names of `components.securitySchemes`, and the HTTP auth scheme each one reads. */
export const AUTH_SCHEMES = { License: 'License', ApiKey: 'Bearer' } as const;
type SchemeName = keyof typeof AUTH_SCHEMES;

const REALM = 'licentric';

/** `Authorization: <scheme> <credentials>`, the scheme lower-cased (matched case-insensitively, RFC 9110 §11.1). */
function splitAuthorization(header: unknown): { scheme: string; credentials: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+) +(\S+)\s*$/.exec(header);
  return match ? { scheme: match[1]!.toLowerCase(), credentials: match[2]! } : undefined;
}

function credentialsFor(context: Context, scheme: string): string | undefined {
  const split = splitAuthorization(context.request.headers.authorization);
  return split?.scheme === scheme.toLowerCase() ? split.credentials : undefined;
}

/**
 * The keyed hash of the credential an `Authorization` header presents, as the services store
 * it, for a license key or an API key of the shape we issue; undefined for anything else.
 */
export function presentedKeyHash(authorization: unknown, hasher: KeyHasher): Buffer | undefined {
  const split = splitAuthorization(authorization);
  if (split?.scheme === AUTH_SCHEMES.License.toLowerCase()) {
    const canonical = parseLicenseKey(split.credentials);
    return canonical === null ? undefined : hasher.hash('license-key', canonical);
  }
  if (split?.scheme === AUTH_SCHEMES.ApiKey.toLowerCase() && isWellFormedApiToken(split.credentials))
    return hasher.hash('api-key', split.credentials);
  return undefined;
}

/**
 * The security handlers openapi-backend runs for an operation's schemes. Each returns the
 * principal when its scheme's credentials are present and valid, and false otherwise, noting
 * on the request whether credentials were present but wrong (401 INVALID_CREDENTIALS) or absent
 * (401 AUTHENTICATION_REQUIRED).
 */
export const securityHandlers: Record<SchemeName, (c: Context, state: RequestState) => Promise<Principal | false>> = {
  async License(context, state) {
    return licenseCredentials(context, state);
  },

  async ApiKey(context, state) {
    const presented = credentialsFor(context, AUTH_SCHEMES.ApiKey);
    if (presented === undefined) return false;
    const apiKey = await state.services.apiKeys.authenticate(presented);
    if (!apiKey) {
      state.invalidCredentials = true;
      return false;
    }
    return { kind: 'apiKey', apiKey };
  },
};

/**
 * The License scheme's handler (`securityHandlers.License`), answering without a promise when the
 * authentication cache holds the license: the hot path (hot-path.ts) calls it as it is.
 */
export function licenseCredentials(
  context: Context,
  state: RequestState,
): Principal | false | Promise<Principal | false> {
  const presented = credentialsFor(context, AUTH_SCHEMES.License);
  if (presented === undefined) return false;
  // The key as issued, whatever case it came in; null for one that cannot be ours.
  const key = parseLicenseKey(presented);
  if (key === null) return refused(state);
  const found = state.services.licenses.authenticateCanonical(key);
  if (found instanceof Promise)
    return found.then((license) => (license ? licensePrincipal(license, key) : refused(state)));
  return found ? licensePrincipal(found, key) : refused(state);
}

function licensePrincipal(license: LicenseRecord, key: string): Principal {
  return { kind: 'license', license, key };
}

/** Credentials were presented, and are wrong: 401 INVALID_CREDENTIALS rather than AUTHENTICATION_REQUIRED. */
function refused(state: RequestState): false {
  state.invalidCredentials = true;
  return false;
}

/** Each operation's schemes, read from its requirements once: every request asks twice. */
const schemesByOperation = new WeakMap<object, SchemeName[]>();

function schemesOf(context: Context): SchemeName[] {
  const known = schemesByOperation.get(context.operation);
  if (known !== undefined) return known;
  const requirements = (context.operation.security ?? []) as Record<string, string[]>[];
  const schemes = [...new Set(requirements.flatMap((r) => Object.keys(r)))].filter(
    (name): name is SchemeName => name in AUTH_SCHEMES,
  );
  schemesByOperation.set(context.operation, schemes);
  return schemes;
}

/** The principal of an authorized request: the first scheme whose handler accepted it. */
export function principalOf(context: Context): Principal | undefined {
  for (const name of schemesOf(context)) {
    const result = (context.security as Record<string, unknown>)[name];
    if (result && typeof result === 'object' && 'kind' in result) return result as Principal;
  }
  return undefined;
}

/** The `WWW-Authenticate` challenge of a 401 for these schemes. */
function challengeFor(schemes: SchemeName[], invalidCredentials: boolean): string {
  return schemes
    .map(
      (name) =>
        `${AUTH_SCHEMES[name]} realm="${REALM}"${invalidCredentials && name === 'ApiKey' ? ', error="invalid_token"' : ''}`,
    )
    .join(', ');
}

/**
 * The 401 for a request that satisfied none of its operation's schemes — unless a scheme's
 * handler could not reach the database: a credential we could not check is not a wrong one (503).
 */
export function unauthorized(context: Context, state: RequestState): HttpProblem {
  const failure = securityFailure(context);
  if (failure !== undefined) {
    const { detail, headers } = databaseUnavailable(failure, state.log);
    return new HttpProblem('SERVICE_UNAVAILABLE', detail, headers);
  }
  const schemes = schemesOf(context);
  const challenge = challengeFor(schemes, state.invalidCredentials);
  const accepted = schemes
    .map((name) => `Authorization: ${AUTH_SCHEMES[name]} <${name === 'License' ? 'license key' : 'API key'}>`)
    .join(' or ');
  return state.invalidCredentials
    ? new HttpProblem(
        'INVALID_CREDENTIALS',
        `The credentials are unknown, malformed, revoked or expired. This operation accepts ${accepted}.`,
        { 'WWW-Authenticate': challenge },
      )
    : new HttpProblem('AUTHENTICATION_REQUIRED', `This operation requires ${accepted}.`, {
        'WWW-Authenticate': challenge,
      });
}

/**
 * API keys must hold the scopes the operation declares in `x-required-scopes`; reading them
 * from the spec keeps the documented and the enforced scopes one and the same.
 */
export function assertScopes(context: Context, principal: Principal): void {
  if (principal.kind !== 'apiKey') return;
  const required = ((context.operation as Record<string, unknown>)['x-required-scopes'] ?? []) as string[];
  const missing = required.filter((scope) => !isScope(scope) || !grants(principal.apiKey.scopes, scope));
  if (missing.length > 0) {
    throw new HttpProblem(
      'INSUFFICIENT_SCOPE',
      `This operation requires the scope ${missing.join(', ')}; the API key holds ${principal.apiKey.scopes.join(', ')}.`,
    );
  }
}

/** The one operation an expired license's key may always call, whatever its policy's expiration strategy. */
const EXPIRED_KEY_OPERATION = 'validateLicense';

/**
 * A license key of an expired license under a `REVOKE_ACCESS` policy opens validation and
 * nothing else (status.ts); every other operation refuses it here, before its handler, with the
 * refusal the machine operations give an expired license. Costs a statement for expired
 * licenses only; for any other it answers (returns, or throws the refusal) without a promise.
 */
export function assertLicenseKeyAccess(
  context: Context,
  principal: Principal,
  services: Services,
): Promise<void> | undefined {
  if (principal.kind !== 'license' || context.operation.operationId === EXPIRED_KEY_OPERATION) return undefined;
  // A live license is answered at once: no promise, no turn of the event loop.
  const now = services.clock.now();
  const immediate = immediateRefusal(principal.license, 'use', now);
  if (immediate === null) return undefined;
  if (immediate !== undefined) throw immediate;
  return (async () => {
    try {
      const refusal = await licenseRefusal(services.unitOfWork, principal.license, 'use', now);
      if (refusal !== null) throw refusal;
    } catch (error) {
      if (error instanceof LicenseNotFound) throw licenseGone();
      throw error;
    }
  })();
}

/** The 401 for a license key that authenticated the request but whose license was deleted since. */
export function licenseGone(): HttpProblem {
  return new HttpProblem('INVALID_CREDENTIALS', 'The license was deleted.', {
    'WWW-Authenticate': challengeFor(['License'], true),
  });
}

/**
 * The license of a request whose operation accepts only License auth. The spec routes no other
 * principal there, so anything else is a wiring fault, not a client error.
 */
export function licenseOf(principal: Principal): LicenseRecord {
  if (principal.kind !== 'license') throw new HttpProblem('INTERNAL_ERROR', 'expected license authentication');
  return principal.license;
}

/** The API key of a request whose operation accepts only API-key auth (see licenseOf). */
export function apiKeyOf(principal: Principal): ApiKeyRecord {
  if (principal.kind !== 'apiKey') throw new HttpProblem('INTERNAL_ERROR', 'expected API-key authentication');
  return principal.apiKey;
}
