/**
 * `{ $ref, minLength: 8 }` as `{ allOf: [{ $ref }], minLength: 8 }`: the same schema under JSON
 * Schema 2020-12, but one that survives openapi-backend's dereferencing, which replaces an object
 * holding a `$ref` by its target and so would drop the constraints beside it.
 */
function keepRefSiblings(node: unknown): unknown {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = keepRefSiblings(node[i]);
    return node;
  }
  if (node === null || typeof node !== 'object') return node;
  const object = node as Record<string, unknown>;
  for (const key of Object.keys(object)) object[key] = keepRefSiblings(object[key]);
  if (typeof object.$ref === 'string' && Object.keys(object).length > 1) {
    const { $ref, ...siblings } = object;
    return { allOf: [{ $ref }], ...siblings };
  }
  return object;
}

/**
 * The document as openapi-backend should see it: `$ref` siblings kept (above), and, since its
 * validator only compiles request bodies declared as application/json, a merge-patch body gets
 * an application/json twin with the same schema. Which media types a request may really use is
 * kept aside, from the published document, for the 415 check.
 *
 * Rewrites the document it is given rather than a copy: the server parses the contract for
 * this, and a second copy would only grow the heap while the pipeline is built.
 */
export function forValidation(published: Record<string, unknown>): {
  definition: Record<string, unknown>;
  bodyMediaTypes: Map<string, string[]>;
} {
  const definition = keepRefSiblings(published) as Record<string, unknown>;
  const bodyMediaTypes = new Map<string, string[]>();
  const paths = definition.paths as Record<
    string,
    Record<string, { operationId: string; requestBody?: { content: Record<string, unknown> } }>
  >;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const content = operation.requestBody?.content;
      if (!content) continue;
      bodyMediaTypes.set(operation.operationId, Object.keys(content));
      const patch = content['application/merge-patch+json'];
      if (patch && !content['application/json']) content['application/json'] = patch;
    }
  }
  return { definition, bodyMediaTypes };
}
