import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Response } from 'express';
import type { ResponseSigner } from './response-signing.ts';

/** A response on its way out: what the pipeline answers and the contract checker reads. */
export interface ApiResult {
  status: number;
  body: unknown;
  contentType: string;
  headers?: Record<string, string>;
}

/** A download (a machine file) goes out as its text; every other answer as JSON. */
const isDownload = (result: ApiResult): result is ApiResult & { body: string } =>
  result.contentType === 'application/octet-stream' && typeof result.body === 'string';

export function send(res: Response, result: ApiResult, signer?: ResponseSigner): void {
  res.status(result.status);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  res.type(result.contentType);
  // Only a request that asks for a signature pays for one (response-signing.ts).
  if (signer !== undefined && res.req.headers['accept-signature'] !== undefined) sendSigned(res, result, signer);
  // A Buffer keeps Express from adding a charset to the download.
  else res.send(isDownload(result) ? Buffer.from(result.body, 'utf8') : JSON.stringify(result.body));
}

/**
 * The response with its signature headers, over exactly the bytes and the `Content-Type` that
 * go out: the body is sent as bytes, so Express changes neither (a JSON string would get its
 * `charset` added after the signature was made; it is added here first, as Express would).
 */
function sendSigned(res: Response, result: ApiResult, signer: ResponseSigner): void {
  let contentType = String(res.get('Content-Type'));
  if (!isDownload(result) && !/;\s*charset=/i.test(contentType)) contentType = `${contentType}; charset=utf-8`;
  res.setHeader('Content-Type', contentType);
  const body = Buffer.from(isDownload(result) ? result.body : JSON.stringify(result.body), 'utf8');
  // originalUrl: a router mounted under a path (the API's) sees the rest of it as `url`.
  const { method, originalUrl, headers: requestHeaders } = res.req;
  const headers = signer.headersFor(
    { method, url: originalUrl, headers: requestHeaders },
    result.status,
    contentType,
    body,
  );
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res.send(body);
}

/**
 * `send` for a JSON answer on a bare node:http response (the hot path's, hot-path.ts), with its
 * request id: the status, headers and bytes Express's `res.send` writes for it, the `charset`
 * included, signed the same way for a request that asks. The headers go as one list and an
 * unsigned body as text, which Node writes with the headers in one piece.
 */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  result: ApiResult,
  requestId: string,
  signer?: ResponseSigner,
): void {
  const contentType = `${result.contentType}; charset=utf-8`;
  const text = JSON.stringify(result.body);
  const headers = ['X-Request-Id', requestId];
  if (result.headers) for (const name in result.headers) headers.push(name, result.headers[name]!);
  headers.push('Content-Type', contentType);
  if (signer === undefined || req.headers['accept-signature'] === undefined) {
    headers.push('Content-Length', String(Buffer.byteLength(text)));
    res.writeHead(result.status, headers);
    res.end(text);
    return;
  }
  const body = Buffer.from(text, 'utf8');
  const signature = signer.headersFor(req, result.status, contentType, body);
  if (signature) for (const name in signature) headers.push(name, signature[name]!);
  headers.push('Content-Length', String(body.length));
  res.writeHead(result.status, headers);
  res.end(body);
}
