// Redocly lint rules of our own (see redocly.yaml). Each exists because an SDK generator or a
// docs renderer turns the pattern it forbids into something a partner has to work around.

const SCHEMA_COMPONENT = /^#\/components\/schemas\/[^/]+$/;
const ENUM_VALUE = /^[A-Za-z][A-Za-z0-9_.:-]*$/;

function isNullSchema(schema) {
  return (
    schema &&
    typeof schema === 'object' &&
    (schema.type === 'null' || (Array.isArray(schema.enum) && schema.enum.length === 1 && schema.enum[0] === null))
  );
}

/** Every 4xx and 5xx response is an RFC 9457 problem, and only that: one schema for every client's error type. */
function problemResponses() {
  return {
    Response: {
      skip(_response, key) {
        return !/^[45]/.test(String(key));
      },
      enter(response, { report, location }) {
        const types = Object.keys(response.content ?? {});
        if (types.length !== 1 || types[0] !== 'application/problem+json') {
          report({
            message: `Error responses must be declared as application/problem+json only (found: ${types.join(', ') || 'no content'}).`,
            location: location.key(),
          });
          return;
        }
        const schema = response.content['application/problem+json'].schema;
        if (schema?.$ref !== '#/components/schemas/Problem') {
          report({
            message: 'Error responses must use the shared Problem schema.',
            location: location.child(['content', 'application/problem+json', 'schema']),
          });
        }
      },
    },
  };
}

/**
 * Object schemas, unions and enums only as named components. Generators name inline ones after
 * wherever they happen to sit (`ActivateMachine201ResponseData`, `MachinePlatformOneOf`), and
 * those names change whenever the spec moves them. A property's own `metadata`-style free-form
 * map is fine: it has no properties to name.
 */
function namedSchemas() {
  return {
    Schema: {
      enter(schema, { report, location }) {
        if (SCHEMA_COMPONENT.test(location.pointer)) return;
        const what = [];
        if (schema.properties && Object.keys(schema.properties).length > 0) what.push('an object with properties');
        for (const keyword of ['oneOf', 'anyOf']) {
          const branches = (schema[keyword] ?? []).filter((branch) => !isNullSchema(branch));
          if (branches.length > 1) what.push(`a ${keyword} union`);
        }
        if ((schema.allOf ?? []).length > 1) what.push('an allOf composition');
        if (Array.isArray(schema.enum) && schema.enum.filter((v) => v !== null).length > 1) what.push('an enum');
        if (what.length > 0) {
          report({
            message: `Inline ${what.join(' and ')}: declare it as a named model, union or enum in spec/ so SDKs get a stable type name.`,
            location: location.key(),
          });
        }
      },
    },
  };
}

/**
 * Enum values every SDK language can turn into constant names: a letter first (`7zip` has no
 * constant name in Java, Go or Python), no two values that collide once punctuation and case are
 * dropped (`read-only` and `READ_ONLY` both become `READ_ONLY`), and no one-value boolean or
 * number "constants", which generators turn into enum types or drop.
 */
function sdkSafeEnums() {
  return {
    Schema: {
      enter(schema, { report, location }) {
        if (!Array.isArray(schema.enum)) return;
        const seen = new Map();
        for (const value of schema.enum) {
          if (value === null) continue;
          if (typeof value !== 'string') {
            report({
              message: `Enum value ${JSON.stringify(value)} is not a string: generators emit one-value enums or drop the type. Use a plain ${typeof value}.`,
              location: location.child(['enum']),
            });
            continue;
          }
          if (!ENUM_VALUE.test(value)) {
            report({
              message: `Enum value "${value}" must start with a letter and hold only letters, digits and _ - . : (it becomes a constant name in every SDK).`,
              location: location.child(['enum']),
            });
          }
          const key = value.toLowerCase().replace(/[^a-z0-9]/g, '');
          if (seen.has(key)) {
            report({
              message: `Enum values "${seen.get(key)}" and "${value}" get the same constant name in SDKs.`,
              location: location.child(['enum']),
            });
          }
          seen.set(key, value);
        }
      },
    },
  };
}

/**
 * No `default` beside a `$ref` to a non-enum schema: openapi-generator's Java client emits such a default as a bare
 * identifier (`keyPrefix = LIC;`), which does not compile. Say the default in the description,
 * or put the constraint inline instead of referencing a scalar.
 */
function noDefaultBesideRef() {
  // The walker visits a referenced schema at its target, so look at the referencing node here.
  return {
    Schema: {
      enter(schema, { report, location, resolve }) {
        for (const [name, property] of Object.entries(schema.properties ?? {})) {
          if (property && typeof property === 'object' && '$ref' in property && 'default' in property) {
            // Enum defaults come out right (`HeartbeatCullStrategy.DEACTIVATE_DEAD`).
            if (Array.isArray(resolve({ $ref: property.$ref }).node?.enum)) continue;
            report({
              message: 'A default beside $ref breaks generated Java code (it is emitted unquoted).',
              location: location.child(['properties', name, 'default']),
            });
          }
        }
      },
    },
  };
}

/** Every request body and every response body carries an example: docs and mock servers show it. */
function examplesEverywhere() {
  return {
    MediaType: {
      enter(media, { report, location }) {
        if (!/\/(responses|requestBody)\//.test(location.pointer)) return;
        const examples = media.examples ? Object.keys(media.examples) : [];
        if (media.example === undefined && examples.length === 0) {
          report({
            message: 'Add an example (@opExample in spec/; for an error, a problem body as the server sends it).',
            location: location.key(),
          });
        }
      },
    },
  };
}

/**
 * The scopes an operation requires are stated twice: in `x-required-scopes`, which the server
 * enforces, and in the description, which partners read. They must name the same scopes, and
 * every operation that accepts an API key must declare its list (empty where any valid key may
 * call it), so the two cannot drift.
 */
function scopesStatedOnce() {
  let globalSecurity = [];
  return {
    Root: {
      enter(root) {
        globalSecurity = root.security ?? [];
      },
    },
    Operation: {
      enter(operation, { report, location }) {
        const acceptsApiKey = (operation.security ?? globalSecurity).some((requirement) => 'ApiKey' in requirement);
        const declared = [...new Set(operation['x-required-scopes'] ?? [])].sort();
        const described = [
          ...new Set([...(operation.description ?? '').matchAll(/`([a-z-]+(?::[a-z]+)?)` scope\b/g)].map((m) => m[1])),
        ].sort();
        // An explicit empty list is a statement too: any valid API key may call the operation.
        if (acceptsApiKey && !Array.isArray(operation['x-required-scopes'])) {
          report({
            message: 'An operation that accepts an API key must declare x-required-scopes.',
            location: location.key(),
          });
        }
        if (!acceptsApiKey && declared.length > 0) {
          report({
            message: 'x-required-scopes on an operation that accepts no API key.',
            location: location.child(['x-required-scopes']),
          });
        }
        if (declared.join(',') !== described.join(',')) {
          report({
            message: `The description requires ${described.join(', ') || 'no scope'} but x-required-scopes says ${declared.join(', ') || 'none'}; state the same scopes in both.`,
            location: location.child(['description']),
          });
        }
      },
    },
  };
}

export default function licentricRules() {
  return {
    id: 'licentric',
    rules: {
      oas3: {
        'problem-responses': problemResponses,
        'named-schemas': namedSchemas,
        'sdk-safe-enums': sdkSafeEnums,
        'examples-everywhere': examplesEverywhere,
        'no-default-beside-ref': noDefaultBesideRef,
        'scopes-stated-once': scopesStatedOnce,
      },
    },
  };
}
