import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import type { Logger } from 'pino';
import { createAjv } from './ajv.ts';
import { problemBody, problemResult } from './problem.ts';
import type { OperationObject } from './request-state.ts';
import type { ApiResult } from './result.ts';

/**
 * Checks a response against the operation it answers: the status is declared, the media type
 * is the declared one, the body matches its schema, and required headers are present. The
 * tests run every response through it, so the server cannot say what the spec does not.
 */
export class ContractChecker {
  readonly #ajv: Ajv2020;
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(document: Record<string, unknown>) {
    this.#ajv = createAjv();
    this.#ajv.addSchema({ ...document, $id: 'openapi' });
  }

  check(
    operation: OperationObject,
    status: number,
    contentType: string,
    body: unknown,
    headers: Record<string, unknown>,
  ): string[] {
    const where = `${operation.operationId} ${status}`;
    const response = operation.responses[String(status)];
    if (!response) return [`${where}: status ${status} is not declared`];

    const problems: string[] = [];
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      if (header.required && headers[name.toLowerCase()] === undefined)
        problems.push(`${where}: missing header ${name}`);
    }
    const mediaType = contentType.split(';')[0]!.trim();
    const content = response.content ?? {};
    if (!(mediaType in content)) {
      problems.push(`${where}: content type ${mediaType} is not one of ${Object.keys(content).join(', ')}`);
      return problems;
    }
    const validate = this.#validator(operation.path, operation.method, status, mediaType);
    if (!validate(body)) {
      problems.push(`${where}: body does not match the schema: ${this.#ajv.errorsText(validate.errors)}`);
    }
    return problems;
  }

  /**
   * The result unchanged when it keeps the contract; otherwise a 500 naming the violations, which
   * are also logged and added to `violations`.
   */
  enforce(
    operation: OperationObject,
    result: ApiResult,
    requestId: string,
    log: Logger,
    violations: string[],
  ): ApiResult {
    const headers = { 'x-request-id': requestId, ...lowerCaseKeys(result.headers ?? {}) };
    const found = this.check(operation, result.status, result.contentType, result.body, headers);
    if (found.length === 0) return result;
    violations.push(...found);
    log.error({ violations: found }, 'response breaks the contract');
    return problemResult(
      problemBody('INTERNAL_ERROR', `The response broke the API contract: ${found.join('; ')}`, requestId),
    );
  }

  #validator(path: string, method: string, status: number, mediaType: string): ValidateFunction {
    const pointer = ['paths', path, method, 'responses', String(status), 'content', mediaType, 'schema']
      .map((part) => encodeURIComponent(part.replace(/~/g, '~0').replace(/\//g, '~1')))
      .join('/');
    let validate = this.#validators.get(pointer);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `openapi#/${pointer}` });
      this.#validators.set(pointer, validate);
    }
    return validate;
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
