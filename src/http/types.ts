import type { Logger } from 'pino';
import type { operations } from '../../generated/api.d.ts';
import type { ApiKeyRecord } from '../keys/api-key-record.ts';
import type { LicenseRecord } from '../licenses/license-record.ts';
import type { Services } from '../services.ts';

export type OperationId = keyof operations;

/** Who made the request, as the security handlers established it. */
export type Principal =
  /** `key`: the license key as issued (canonical), which only the request itself brings. */
  | { kind: 'license'; license: LicenseRecord; key: string }
  | { kind: 'apiKey'; apiKey: ApiKeyRecord }
  // An operation that needs no credentials (the published signing keys).
  | { kind: 'anonymous' };

type Op<K extends OperationId> = operations[K];

type JsonContent<T> = T extends { content: { 'application/json': infer B } } ? B : never;

type OctetContent<T> = T extends { content: { 'application/octet-stream': infer B } } ? B : never;

/** The bare download an operation may declare beside its JSON answer (a machine file). */
type Download<R> = [OctetContent<R>] extends [never]
  ? never
  : { body: OctetContent<R>; contentType: 'application/octet-stream'; headers: Record<string, string> };

type AnyContent<T> = T extends { content: infer C } ? C[keyof C] : never;

/** The request body, whatever its declared media type (JSON, or merge-patch JSON for updates). */
export type RequestBody<K extends OperationId> =
  Op<K> extends { requestBody: infer R }
    ? AnyContent<R>
    : Op<K> extends { requestBody?: infer R }
      ? AnyContent<NonNullable<R>> | undefined
      : undefined;

type Params<K extends OperationId, Where extends 'query' | 'path'> = Op<K>['parameters'] extends {
  [P in Where]?: infer Q;
}
  ? [Q] extends [never | undefined]
    ? Record<string, never>
    : NonNullable<Q>
  : never;

/** The success responses an operation declares, each a status with its typed body. */
export type SuccessResponse<K extends OperationId> = {
  [S in keyof Op<K>['responses'] & number]: S extends 200 | 201 | 202 | 204
    ? { status: S; body: JsonContent<Op<K>['responses'][S]> } | ({ status: S } & Download<Op<K>['responses'][S]>)
    : never;
}[keyof Op<K>['responses'] & number];

export interface HandlerContext<K extends OperationId> {
  body: RequestBody<K>;
  query: Params<K, 'query'>;
  path: Params<K, 'path'>;
  /** The request's headers, lower-cased, for the operations that negotiate (`Accept`). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  principal: Principal;
  services: Services;
  requestId: string;
  log: Logger;
}

export type OperationHandler<K extends OperationId> = (ctx: HandlerContext<K>) => Promise<SuccessResponse<K>>;

/** One handler per operation of the spec: a missing or misspelt one is a compile error. */
export type Handlers = { [K in OperationId]: OperationHandler<K> };
