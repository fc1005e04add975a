import operationScopes from 'virtual:operation-scopes';
import createClient from 'openapi-fetch';
import type { components, operations, paths } from '../../generated/api.d.ts';

export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type Scope = Schemas['Scope'];
export type OperationId = keyof operations;
export type Client = ReturnType<typeof createClient<paths>>;

/** The console speaks to the public API of the server that served it, as any script could. */
export function apiClient(token: string): Client {
  return createClient<paths>({
    baseUrl: `${location.origin}/api/v1`,
    headers: { Authorization: `Bearer ${token}` },
  });
}

/** A refused call: the server's problem+json, whose `detail` is what a person reads. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Partial<Problem>;

  constructor(status: number, problem: Partial<Problem> | undefined) {
    const body = problem ?? {};
    super(body.detail ?? body.title ?? `The server answered ${status}.`);
    this.status = status;
    this.problem = body;
  }
}

/** The data of a successful call, or an ApiError carrying the problem the server answered. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: Awaited<typeof call>;
  try {
    result = await call;
  } catch {
    throw new ApiError(0, { detail: 'The server could not be reached. Check the connection and try again.' });
  }
  if (!result.response.ok || result.data === undefined) {
    const error = new ApiError(result.response.status, result.error as Partial<Problem> | undefined);
    // The key stopped working (revoked, expired): the console signs out rather than keep it.
    if (error.status === 401) dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: error }));
    throw error;
  }
  return result.data;
}

/** Dispatched on `window` when the API refuses the key itself (401). */
export const UNAUTHORIZED = 'licentric:unauthorized';

/** The scopes the spec requires for an operation (`x-required-scopes`). */
export function requiredScopes(operation: OperationId): Scope[] {
  return (operationScopes[operation] ?? []) as Scope[];
}

/** Whether a key holding `held` may call `operation`: `admin` implies every other scope. */
export function allows(held: readonly Scope[], operation: OperationId): boolean {
  return held.includes('admin') || requiredScopes(operation).every((scope) => held.includes(scope));
}

/** A fresh `Idempotency-Key`, so that a double click or a retried request acts once. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
