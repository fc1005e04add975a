import type { ErrorObject } from 'ajv';
import type { Context } from 'openapi-backend';
import type { FieldError } from '../core/errors.ts';
import { closest } from '../core/suggest.ts';

interface Schema {
  properties?: Record<string, Schema>;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
}

/** Every property a (dereferenced) object schema names, through allOf/anyOf/oneOf. */
function propertyNames(schema: Schema | undefined, into = new Set<string>()): Set<string> {
  if (!schema || typeof schema !== 'object') return into;
  for (const name of Object.keys(schema.properties ?? {})) into.add(name);
  for (const branch of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])])
    propertyNames(branch, into);
  return into;
}

/** The subschema for a pointer's parent, following properties and items through the combinators. */
function schemaAt(schema: Schema | undefined, segments: string[]): Schema | undefined {
  if (!schema || segments.length === 0) return schema;
  const [head, ...rest] = segments;
  const branches = [schema, ...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])];
  for (const branch of branches) {
    const next = /^\d+$/.test(head!) && branch.items ? branch.items : branch.properties?.[head!];
    if (next) return schemaAt(next, rest);
  }
  return undefined;
}

function bodySchemaOf(operation: { requestBody?: unknown } | undefined): Schema | undefined {
  const body = operation?.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined;
  return body?.content?.['application/json']?.schema;
}

/**
 * What a client is told about one failed check, in terms it can act on: the field it sent that
 * the operation does not know (with the known field it probably meant), and the values an enum
 * allows rather than Ajv's "must be equal to one of the allowed values".
 * The known fields are in the operation's request-body schema, which openapi-backend has
 * dereferenced (merge-patch bodies have an application/json twin: see openapi-definition.ts).
 */
export function fieldMessage(error: ErrorObject, operation: { requestBody?: unknown } | undefined): string {
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'additionalProperties') return 'is not a known parameter';
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return `must be one of: ${allowed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
  }
  // A closed model is `unevaluatedProperties: {not: {}}`: Ajv reports the stray field as failing `not`.
  if (error.keyword === 'not' && error.schemaPath.endsWith('/unevaluatedProperties/not')) {
    const segments = error.instancePath
      .replace(/^\/requestBody/, '')
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const field = segments.pop()!;
    const meant = closest(field, propertyNames(schemaAt(bodySchemaOf(operation), segments)));
    return meant ? `is not a known field; did you mean "${meant}"?` : 'is not a known field';
  }
  return error.message ?? 'is invalid';
}

/** Ajv's errors as problem pointers: into the body (`/fingerprint`) or at a parameter (`/query/limit`). */
export function fieldErrors(context: Context): FieldError[] {
  return (context.validation.errors ?? []).map((error) => {
    let pointer = error.instancePath.replace(/^\/requestBody/, '');
    const params = error.params as { missingProperty?: string; additionalProperty?: string };
    if (error.keyword === 'required' && params.missingProperty) pointer += `/${params.missingProperty}`;
    if (error.keyword === 'additionalProperties' && params.additionalProperty)
      pointer += `/${params.additionalProperty}`;
    return { pointer, message: fieldMessage(error, context.operation) };
  });
}
