import type { Logger } from 'pino';
import type { components } from '../../generated/api.d.ts';
import { DomainError, type DomainErrorCode } from '../core/errors.ts';
import { isDatabaseUnavailable } from '../db/failure.ts';
import type { ApiResult } from './result.ts';
import { databaseUnavailable } from './unavailable.ts';

/** Codes only the HTTP layer raises: transport and authentication failures. */
export type HttpErrorCode =
  | 'MALFORMED_JSON'
  | 'MALFORMED_REQUEST'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'AUTHENTICATION_REQUIRED'
  | 'INVALID_CREDENTIALS'
  | 'INSUFFICIENT_SCOPE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'IDEMPOTENCY_KEY_IN_USE'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INTERNAL_ERROR'
  | 'SERVICE_UNAVAILABLE';

export type ErrorCode = DomainErrorCode | HttpErrorCode;

/**
 * The one place a code gets its status and title. The switch is exhaustive: a code added to
 * either union without a case here does not compile.
 */
export function describe(code: ErrorCode): { status: number; title: string } {
  switch (code) {
    case 'VALIDATION_FAILED':
      return { status: 400, title: 'The request is invalid' };
    case 'MALFORMED_JSON':
      return { status: 400, title: 'The request body is not valid JSON' };
    case 'MALFORMED_REQUEST':
      return { status: 400, title: 'The request is not valid HTTP' };
    case 'REQUEST_TIMEOUT':
      return { status: 408, title: 'The request was not received in time' };
    case 'HEADERS_TOO_LARGE':
      return { status: 431, title: 'The request headers are too large' };
    case 'AUTHENTICATION_REQUIRED':
      return { status: 401, title: 'Authentication is required' };
    case 'INVALID_CREDENTIALS':
      return { status: 401, title: 'The credentials are not valid' };
    case 'INSUFFICIENT_SCOPE':
      return { status: 403, title: 'The API key lacks a required scope' };
    case 'LICENSE_SUSPENDED':
      return { status: 403, title: 'The license is suspended' };
    case 'LICENSE_EXPIRED':
      return { status: 403, title: 'The license has expired' };
    case 'SCOPE_NOT_GRANTABLE':
      return { status: 403, title: 'The API key cannot grant that scope' };
    case 'NOT_FOUND':
      return { status: 404, title: 'No such resource' };
    case 'MACHINE_NOT_FOUND':
      return { status: 404, title: 'Machine not found' };
    case 'POLICY_NOT_FOUND':
      return { status: 404, title: 'Policy not found' };
    case 'PRODUCT_NOT_FOUND':
      return { status: 404, title: 'Product not found' };
    case 'LICENSE_NOT_FOUND':
      return { status: 404, title: 'License not found' };
    case 'API_KEY_NOT_FOUND':
      return { status: 404, title: 'API key not found' };
    case 'EVENT_NOT_FOUND':
      return { status: 404, title: 'Event not found' };
    case 'WEBHOOK_ENDPOINT_NOT_FOUND':
      return { status: 404, title: 'Webhook endpoint not found' };
    case 'WEBHOOK_DELIVERY_NOT_FOUND':
      return { status: 404, title: 'Webhook delivery not found' };
    case 'ENTITLEMENT_NOT_FOUND':
      return { status: 404, title: 'Entitlement not found' };
    case 'SIGNING_KEY_NOT_FOUND':
      return { status: 404, title: 'Signing key not found' };
    case 'METHOD_NOT_ALLOWED':
      return { status: 405, title: 'Method not allowed' };
    case 'FINGERPRINT_TAKEN':
      return { status: 409, title: 'The fingerprint is already activated on this license' };
    case 'FINGERPRINT_TAKEN_ELSEWHERE':
      return { status: 409, title: 'The fingerprint is already activated on another license' };
    case 'POLICY_IN_USE':
      return { status: 409, title: 'The policy still has licenses' };
    case 'PRODUCT_IN_USE':
      return { status: 409, title: 'The product still has policies' };
    case 'PRODUCT_CODE_TAKEN':
      return { status: 409, title: 'The product code is taken' };

    case 'ENTITLEMENT_CODE_TAKEN':
      return { status: 409, title: 'The entitlement code is taken' };
    case 'SIGNING_KEY_ACTIVE':
      return { status: 409, title: 'The active signing key cannot be revoked' };
    case 'SIGNING_KEY_REVOKED':
      return { status: 409, title: 'The signing key is revoked' };
    case 'LAST_ADMIN_KEY':
      return { status: 409, title: 'The last admin API key cannot be revoked' };
    case 'IDEMPOTENCY_KEY_IN_USE':
      return { status: 409, title: 'A request with this idempotency key is still running' };
    case 'PAYLOAD_TOO_LARGE':
      return { status: 413, title: 'The request body is too large' };
    case 'UNSUPPORTED_MEDIA_TYPE':
      return { status: 415, title: 'Unsupported media type' };
    case 'MACHINE_LIMIT_EXCEEDED':
      return { status: 422, title: "The license has reached its policy's machine limit" };
    case 'CORE_LIMIT_EXCEEDED':
      return { status: 422, title: "The activation would pass the policy's core limit" };
    case 'MACHINE_HEARTBEAT_DEAD':
      return { status: 422, title: 'The machine is dead' };
    case 'PROCESS_NOT_FOUND':
      return { status: 404, title: 'Process not found' };
    case 'PROCESS_LIMIT_EXCEEDED':
      return { status: 422, title: 'The process limit is reached' };
    case 'PROCESS_HEARTBEAT_DEAD':
      return { status: 422, title: "The process's lease expired" };
    case 'UNKNOWN_POLICY':
      return { status: 422, title: 'No such policy' };
    case 'UNKNOWN_PRODUCT':
      return { status: 422, title: 'No such product' };
    case 'SCOPE_NOT_FOR_PRODUCT_KEY':
      return { status: 422, title: 'The scope spans every product' };
    case 'WEBHOOK_URL_REFUSED':
      return { status: 422, title: 'The webhook URL is refused' };
    case 'UNKNOWN_ENTITLEMENTS':
      return { status: 422, title: 'No such entitlements' };
    case 'ENTITLEMENT_LIMIT_EXCEEDED':
      return { status: 422, title: 'Too many entitlements' };
    case 'EXPIRES_IN_PAST':
      return { status: 422, title: 'The expiry is in the past' };
    case 'POLICY_HAS_NO_DURATION':
      return { status: 422, title: "The license's policy has no duration" };
    case 'EXPIRY_OUT_OF_RANGE':
      return { status: 422, title: 'The expiry is out of range' };
    case 'TTL_OUT_OF_RANGE':
      return { status: 422, title: 'The ttl is out of range' };
    case 'NON_EXPIRING_FILE_NOT_ALLOWED':
      return { status: 422, title: 'The policy does not allow files that never expire' };
    case 'ENCRYPTION_NEEDS_LICENSE_KEY':
      return { status: 422, title: 'Encrypting the file needs the license key' };
    case 'LICENSE_KEY_MISMATCH':
      return { status: 422, title: "The license key is not this license's" };
    case 'IDEMPOTENCY_KEY_REUSED':
      return { status: 422, title: 'The idempotency key was used for a different request' };
    case 'RATE_LIMITED':
      return { status: 429, title: 'Too many requests' };
    case 'INTERNAL_ERROR':
      return { status: 500, title: 'Internal server error' };
    case 'SERVICE_UNAVAILABLE':
      return { status: 503, title: 'Service unavailable' };
  }
}

/** The problem body as the spec declares it, its `code` narrowed to the codes this server has. */
export type Problem = components['schemas']['Problem'] & { code: ErrorCode };

// A domain error's own fields must be fields the spec declares on Problem.
type DeclaredProblemFields = Pick<Problem, 'errors' | 'machineId' | 'unknownEntitlements'>;

export function problemBody(
  code: ErrorCode,
  detail: string,
  requestId: string,
  extra: DeclaredProblemFields = {},
): Problem {
  const { status, title } = describe(code);
  return {
    type: `urn:licentric:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title,
    status,
    detail,
    code,
    requestId,
    ...extra,
  };
}

export function problemResult(problem: Problem, headers: Record<string, string> = {}): ApiResult {
  return { status: problem.status, body: problem, contentType: 'application/problem+json', headers };
}

/** Maps anything a request can throw to its one problem response. */
export function toProblem(error: unknown, state: { requestId: string; log: Logger }): ApiResult {
  if (isDatabaseUnavailable(error)) {
    const { detail, headers } = databaseUnavailable(error, state.log);
    return problemResult(problemBody('SERVICE_UNAVAILABLE', detail, state.requestId), headers);
  }
  if (error instanceof DomainError) {
    const fields: DeclaredProblemFields = error.problemFields;
    return problemResult(problemBody(error.code, error.detail, state.requestId, fields));
  }
  if (error instanceof HttpProblem) {
    // A 503 was logged where the database failure was met; any other 5xx here is a bug.
    if (describe(error.code).status >= 500 && error.code !== 'SERVICE_UNAVAILABLE')
      state.log.error({ err: error }, 'request failed');
    return problemResult(problemBody(error.code, error.message, state.requestId), error.headers);
  }
  state.log.error({ err: error }, 'request failed');
  return problemResult(
    problemBody('INTERNAL_ERROR', 'The server failed to handle the request; it has been logged.', state.requestId),
  );
}

/** An HTTP-level refusal raised outside any domain rule (auth, transport). */
export class HttpProblem extends Error {
  readonly code: HttpErrorCode;
  readonly headers: Record<string, string>;

  constructor(code: HttpErrorCode, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.code = code;
    this.headers = headers;
  }
}
