import type { Logger } from 'pino';
import type { Services } from '../services.ts';
import type { RequestScope } from './access-log.ts';
import type { RawBody } from './request-body.ts';

/** What one API request carries through openapi-backend's pipeline into its handler. */
export interface RequestState {
  requestId: string;
  log: Logger;
  services: Services;
  rawBody: RawBody;
  /** The body handed to validation and to the handler, once parsed. */
  request: { method: string; path: string; query: string; headers: Record<string, string | string[]>; body?: unknown };
  invalidCredentials: boolean;
  /** The client's address: the socket's, or what a trusted proxy forwarded (LICENTRIC_TRUST_PROXY). */
  clientIp: string;
  /** The operation routing matched, if any. */
  operation?: OperationObject;
  operationId?: string;
}

/**
 * What a request brings into the pipeline from the Express shell or the hot path: its scope (id
 * and logger), its services, the client's address.
 */
export interface RequestOrigin {
  scope: RequestScope;
  services: Services;
  clientIp: string;
}

/** A request's state, whose logger is its scope's, made on first read (a class: see RequestScope). */
export class ScopedRequestState implements RequestState {
  readonly requestId: string;
  services: Services;
  clientIp: string;
  rawBody: RawBody;
  request: RequestState['request'];
  invalidCredentials = false;
  operation: OperationObject | undefined;
  operationId: string | undefined;
  readonly #scope: RequestScope;

  constructor(origin: RequestOrigin, request: RequestState['request'], rawBody: RawBody, operation?: OperationObject) {
    this.#scope = origin.scope;
    this.requestId = origin.scope.requestId;
    this.services = origin.services;
    this.clientIp = origin.clientIp;
    this.rawBody = rawBody;
    this.request = request;
    this.operation = operation;
    this.operationId = operation?.operationId;
  }

  get log(): Logger {
    return this.#scope.log;
  }
}

/** The parts of openapi-backend's matched operation this code reads. */
export interface OperationObject {
  operationId: string;
  path: string;
  method: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, unknown> };
  parameters?: { in: string; name: string }[];
  responses: Record<
    string,
    { headers?: Record<string, { required?: boolean }>; content?: Record<string, { schema?: unknown }> }
  >;
  'x-required-scopes'?: string[];
}
