import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { type AddressPolicy, checkTarget } from './address.ts';

const EXCERPT_BYTES = 1024;

/** How one POST went: a status and the start of the response body, or why there was none. */
export interface PostResult {
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  excerpt: string | null;
}

/** One POST, never following redirects, to an address checked when it is connected to. */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  policy: AddressPolicy,
  timeoutMs: number,
): Promise<PostResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  try {
    const target = new URL(url);
    // The same check as when the endpoint was saved, now against what the name resolves to.
    const checked = await checkTarget(url, policy);
    if ('refusal' in checked) throw new Error(`refused: ${target.hostname} ${checked.refusal}`);
    const { addresses } = checked;
    const pinned = addresses[0]!;
    // The connection goes to the address just checked, not to a second lookup (DNS rebinding).
    const lookup: LookupFunction = (_host, opts, callback) => {
      if ((opts as { all?: boolean }).all) (callback as (e: null, a: typeof addresses) => void)(null, [pinned]);
      else callback(null, pinned.address, pinned.family);
    };
    const client = target.protocol === 'https:' ? https : http;
    return await new Promise<PostResult>((resolve) => {
      const request = client.request(target, {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        lookup,
      });
      const timer = setTimeout(() => request.destroy(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
          resolve({ statusCode: response.statusCode ?? null, latencyMs: elapsed(), error: null, excerpt });
          response.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= EXCERPT_BYTES) done();
        });
        response.on('end', done);
        response.on('error', done);
      });
      request.on('error', (error) => {
        clearTimeout(timer);
        resolve({ statusCode: null, latencyMs: elapsed(), error: error.message, excerpt: null });
      });
      request.end(body);
    });
  } catch (error) {
    return { statusCode: null, latencyMs: elapsed(), error: (error as Error).message, excerpt: null };
  }
}
