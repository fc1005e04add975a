import { readFileSync } from 'node:fs';
import { OpenAPIRouter } from 'openapi-backend';
import { describe, expect, it } from 'vitest';
import { operationMatcher } from '../src/http/pipeline.ts';

const definition = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'));
const router = new OpenAPIRouter({ definition });
const operations = router.getOperations();
const matcher = operationMatcher(router, operations);

const ID = '01a21b05-0000-7000-8000-000000000000';
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head'];
/** Every path of the contract with its parameters filled, as is, and with a trailing slash, and a few that are none. */
const PATHS = [
  ...operations.flatMap(({ path }) => {
    const filled = path.replace(/\{[^}]+\}/g, ID);
    return [filled, `${filled}/`, path, path.replace(/\{[^}]+\}/g, 'current')];
  }),
  '/',
  '/nothing',
  '/machines/a/b/c/d',
  '/licenses/actions',
  '/api-keys/current/x',
];

/** The methods each path the contract names as it is (no template) has. */
const FIXED = new Map<string, Set<string>>();
for (const { path, method } of operations)
  if (!path.includes('{')) FIXED.set(path, new Set([...(FIXED.get(path) ?? []), method]));

const METHOD_NOT_ALLOWED = '405-methodNotAllowed: this method is not registered for the route';

describe("the precompiled router: openapi-backend's own answers", () => {
  it('matches every method on every path of the contract as openapi-backend does, fixed paths aside', () => {
    let compared = 0;
    const fixedAside = new Set<string>();
    for (const path of PATHS)
      for (const method of METHODS) {
        const request = { method, path, headers: {} };
        const mine = (strict: boolean) => {
          try {
            return matcher(request, strict)?.operationId ?? 'none';
          } catch (error) {
            return (error as Error).message;
          }
        };
        const theirs = (strict: boolean) => {
          try {
            return router.matchOperation(request, strict)?.operationId ?? 'none';
          } catch (error) {
            return (error as Error).message;
          }
        };
        // A fixed path is its own resource: a method it lacks is a 405, where openapi-backend
        // would route it to a template of the same shape (DELETE /api-keys/current).
        const methods = FIXED.get(router.normalizePath(path));
        if (methods !== undefined && !methods.has(method)) {
          expect(mine(true), `${method} ${path}`).toBe(METHOD_NOT_ALLOWED);
          expect(mine(false), `${method} ${path}`).toBe('none');
          if (theirs(false) !== 'none') fixedAside.add(`${method} ${router.normalizePath(path)}`);
        } else {
          expect(mine(true), `${method} ${path}`).toBe(theirs(true));
          expect(mine(false), `${method} ${path}`).toBe(theirs(false));
        }
        compared++;
      }
    expect(compared).toBeGreaterThan(1000);
    // Where the two differ: the fixed paths beside a template of their shape, for DELETE.
    expect([...fixedAside].sort()).toEqual(['delete /api-keys/current', 'delete /machines/review-queue']);
  });

  it("prefers the most specific template, ties in the contract's order, as openapi-backend does", () => {
    const op = (operationId: string) => ({ operationId, responses: { 200: { description: 'ok' } } });
    const synthetic = new OpenAPIRouter({
      definition: {
        openapi: '3.1.0',
        info: { title: 't', version: '1' },
        paths: {
          '/a/{x}': { get: op('loose'), delete: op('looseDelete') },
          '/a/b{y}': { get: op('tight') },
          '/c/{x}': { get: op('first') },
          '/c/{y}': { get: op('second'), post: op('secondPost') },
        },
      } as never,
    });
    const match = operationMatcher(synthetic, synthetic.getOperations());
    for (const [method, path] of [
      ['get', '/a/bz'],
      ['delete', '/a/bz'],
      ['get', '/a/z'],
      ['get', '/c/1'],
      ['post', '/c/1'],
      ['put', '/c/1'],
    ] as const) {
      const request = { method, path, headers: {} };
      expect(match(request)?.operationId, `${method} ${path}`).toBe(
        (synthetic.matchOperation(request) as { operationId?: string } | undefined)?.operationId,
      );
    }
    expect(match({ method: 'get', path: '/a/bz', headers: {} })?.operationId).toBe('tight');
  });
});
