import type { Logger } from 'pino';
import type { Services } from '../services.ts';
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
