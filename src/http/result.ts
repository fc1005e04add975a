import type { Response } from 'express';

/** A response on its way out: what the pipeline answers and the contract checker reads. */
export interface ApiResult {
  status: number;
  body: unknown;
  contentType: string;
  headers?: Record<string, string>;
}

export function send(res: Response, result: ApiResult): void {
  res.status(result.status);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  res.type(result.contentType);
  // A download (a machine file) goes out as its bytes; a Buffer keeps Express from adding a charset.
  res.send(
    result.contentType === 'application/octet-stream' && typeof result.body === 'string'
      ? Buffer.from(result.body, 'utf8')
      : JSON.stringify(result.body),
  );
}
