import { describe, expect, it } from 'vitest';
import { createAjv } from '../src/http/ajv.ts';
import { ContractChecker } from '../src/http/contract.ts';
import { loadOpenApiDocument } from '../src/http/document.ts';
import { describe as describeCode, type ErrorCode } from '../src/http/problem.ts';
import type { OperationObject } from '../src/http/request-state.ts';

/**
 * The examples in the spec are what partners copy and what mock servers answer with, so each
 * one must be something the server really sends: valid against its schema, and for problems
 * with the `type`, `title` and `status` the server derives from the `code`. Walks every
 * operation of the generated document, so new operations are held to the same bar.
 */

interface MediaType {
  schema?: unknown;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Operation {
  operationId: string;
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
}

const document = loadOpenApiDocument() as { paths: Record<string, Record<string, Operation>> };
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);
const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.has(method))
    .map(([method, operation]) => ({ path, method, operation })),
);

function examplesOf(media: MediaType): [string, unknown][] {
  if (media.examples) return Object.entries(media.examples).map(([name, example]) => [name, example.value]);
  return media.example === undefined ? [] : [['example', media.example]];
}

const checker = new ContractChecker(document as Record<string, unknown>);
const ajv = createAjv();
ajv.addSchema({ ...document, $id: 'spec' });

describe.each(operations)('$operation.operationId examples', ({ path, method, operation }) => {
  it('has an example for the request body and for every response', () => {
    const missing: string[] = [];
    for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
      if (examplesOf(media).length === 0) missing.push(`request body ${type}`);
    }
    for (const [status, response] of Object.entries(operation.responses)) {
      for (const [type, media] of Object.entries(response.content ?? {})) {
        if (examplesOf(media).length === 0) missing.push(`response ${status} ${type}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has request examples that the server accepts', () => {
    for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
      const pointer = ['paths', path, method, 'requestBody', 'content', type, 'schema']
        .map((part) => encodeURIComponent(part.replace(/~/g, '~0').replace(/\//g, '~1')))
        .join('/');
      const validate = ajv.compile({ $ref: `spec#/${pointer}` });
      for (const [name, value] of examplesOf(media)) {
        expect(validate(value), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
    }
  });

  it('has response examples that match the contract and the server', () => {
    const op = { ...operation, path, method } as unknown as OperationObject;
    for (const [status, response] of Object.entries(operation.responses)) {
      for (const [type, media] of Object.entries(response.content ?? {})) {
        for (const [name, value] of examplesOf(media)) {
          // Header examples are not in the document; the body is what is checked here.
          const headers = new Proxy({}, { get: () => 'present' });
          expect(checker.check(op, Number(status), type, value, headers), name).toEqual([]);
          if (type !== 'application/problem+json') continue;
          const problem = value as { type: string; title: string; status: number; code: ErrorCode; requestId: string };
          const expected = describeCode(problem.code);
          expect(expected, `${name}: ${problem.code} is a code the server knows`).toBeDefined();
          expect(problem, name).toMatchObject({
            type: `urn:licentric:problem:${problem.code.toLowerCase().replace(/_/g, '-')}`,
            title: expected.title,
            status: expected.status,
          });
          expect(String(problem.status), `${name}: the body's status is the response's`).toBe(status);
          expect(problem.requestId, name).not.toBe('');
        }
      }
    }
  });
});
