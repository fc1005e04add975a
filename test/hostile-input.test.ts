import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activate as activateMachine,
  bearer,
  licenseAuth,
  type SeededLicense,
  seedApiKey,
  seedLicense,
  useTestServer,
} from './support/harness.ts';

/**
 * A corpus of hostile bodies and query values, against the live server: each gets a 4xx
 * problem+json with a stable code (and a pointer where there is one), and nothing is stored.
 * The body cases are generated from the spec, one per field of every operation that takes a
 * body, so a field added later is covered without a case written here. What the server does
 * accept, any standard JSON reader must be able to read back (Python's `json` and jq included).
 */

const server = useTestServer({ webhookAddresses: { allowPrivate: true } });

interface Problem {
  code: string;
  status: number;
  errors?: { pointer: string; message: string }[];
}

interface Sent {
  status: number;
  contentType: string | null;
  text: string;
}

async function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Sent> {
  const response = await fetch(`${server.apiUrl}${path}`, { method, headers, body });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

function expectProblem(sent: Sent, status: number, code: string, pointer?: string | RegExp): Problem {
  expect(sent.status, sent.text).toBe(status);
  expect(sent.contentType).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(sent.text) as Problem;
  expect(problem).toMatchObject({ status, code });
  if (pointer !== undefined)
    expect(problem.errors?.map((e) => e.pointer)).toContainEqual(
      typeof pointer === 'string' ? pointer : expect.stringMatching(pointer),
    );
  return problem;
}

/** What a refused request must leave unchanged: every table it could write, and the event log. */
async function snapshot(): Promise<unknown> {
  return server.sql(`
    select (select count(*) from machines)::int as machines, (select count(*) from licenses)::int as licenses,
           (select count(*) from policies)::int as policies, (select count(*) from api_keys)::int as api_keys,
           (select count(*) from webhook_endpoints)::int as webhook_endpoints, (select count(*) from events)::int as events,
           (select count(*) from products)::int as products, (select max(updated_at) from products) as products_updated,
           (select max(updated_at) from licenses) as licenses_updated, (select max(updated_at) from policies) as policies_updated,
           (select max(updated_at) from webhook_endpoints) as endpoints_updated,
           (select count(*) from entitlements)::int as entitlements, (select max(updated_at) from entitlements) as entitlements_updated,
           (select count(*) from policy_entitlements)::int + (select count(*) from license_entitlements)::int as attached`);
}

// --- The operations that take a body, and their fields, from the spec ---------------------------

type Schema = {
  $ref?: string;
  type?: string | string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  enum?: unknown[];
};
const spec = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<
    string,
    Record<string, { operationId?: string; requestBody?: { content: Record<string, { schema: Schema }> } }>
  >;
  components: { schemas: Record<string, Schema> };
};
const resolve = (schema: Schema): Schema =>
  schema.$ref ? resolve(spec.components.schemas[schema.$ref.split('/').pop()!]!) : schema;

/** What a field holds, as far as hostile JSON goes: text, a list of text, a number, or free-form JSON. */
function kindOf(schema: Schema): 'string' | 'array' | 'number' | 'object' | 'other' {
  const s = resolve(schema);
  const branch = (s.anyOf ?? s.oneOf)?.map(resolve).find((b) => b.type !== 'null');
  if (branch) return kindOf(branch);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'string' || (type === undefined && s.enum?.every((v) => typeof v === 'string'))) return 'string';
  if (type === 'integer' || type === 'number') return 'number';
  if (type === 'array') return 'array';
  if (type === 'object') return 'object';
  return 'other';
}

interface BodyOperation {
  operationId: string;
  method: string;
  path: string;
  contentType: string;
  fields: [string, ReturnType<typeof kindOf>][];
}

const bodyOperations: BodyOperation[] = Object.entries(spec.paths).flatMap(([path, operations]) =>
  Object.entries(operations).flatMap(([method, op]) => {
    if (!op.requestBody || !op.operationId) return [];
    const [contentType, media] = Object.entries(op.requestBody.content)[0]!;
    const properties = resolve(media.schema).properties ?? {};
    const fields = Object.entries(properties).map(
      ([name, s]) => [name, kindOf(s)] as [string, ReturnType<typeof kindOf>],
    );
    return [{ operationId: op.operationId, method: method.toUpperCase(), path, contentType, fields }];
  }),
);

let admin: Record<string, string>;
let seeded: SeededLicense;
let endpointId: string;
let productId: string;
let machineId: string;

let entitlementId: string;

/** The credentials each operation needs, and the ids its path names. */
function target(op: BodyOperation): { path: string; headers: Record<string, string> } {
  const path = op.path.replace(
    '{id}',
    op.path.startsWith('/policies')
      ? seeded.policyId
      : op.path.startsWith('/machines')
        ? machineId
        : op.path.startsWith('/licenses')
          ? seeded.licenseId
          : op.path.startsWith('/products')
            ? productId
            : op.path.startsWith('/entitlements')
              ? entitlementId
              : endpointId,
  );
  const auth = ['activateMachine', 'validateLicense', 'checkOutLicense', 'spawnProcess'].includes(op.operationId)
    ? licenseAuth(seeded.key)
    : admin;
  return { path, headers: { ...auth, 'Content-Type': op.contentType } };
}

/** A JSON body whose `field` holds `raw`, spelled as JSON text the way a hostile client would. */
const bodyWith = (field: string, raw: string): string => `{"${field}":${raw}}`;

const deep = (levels: number, leaf = '1'): string => '['.repeat(levels) + leaf + ']'.repeat(levels);

beforeAll(async () => {
  admin = bearer(await seedApiKey(server, ['admin']));
  seeded = await seedLicense(server);
  const endpoint = await server.client.POST('/webhook-endpoints', {
    headers: admin,
    body: { url: 'http://127.0.0.1:1/hook' },
  });
  endpointId = endpoint.data!.data.id;
  productId = (await server.services().products.create({ name: 'hostile', code: 'HOSTILE' })).id;

  entitlementId = (await server.services().entitlements.create({ code: 'HOSTILE', name: 'e' })).id;
  machineId = (await activateMachine(server, seeded.key)).id;
});

describe('hostile bodies, field by field, on every operation that takes one', () => {
  it('the spec lists the operations this corpus covers', () => {
    expect(bodyOperations.map((op) => op.operationId).sort()).toEqual([
      'activateMachine',
      'attachLicenseEntitlements',
      'attachPolicyEntitlements',
      'checkOutLicense',
      'checkOutLicenseById',
      'checkOutMachine',
      'createApiKey',
      'createEntitlement',
      'createLicense',
      'createPolicy',
      'createProduct',
      'createWebhookEndpoint',
      'detachLicenseEntitlements',
      'detachPolicyEntitlements',
      'lookupLicense',
      'spawnProcess',
      'updateEntitlement',
      'updateLicense',
      'updatePolicy',
      'updateProduct',
      'updateWebhookEndpoint',
      'validateLicense',
    ]);
    expect(bodyOperations.every((op) => op.fields.length > 0)).toBe(true);
  });

  for (const op of bodyOperations) {
    describe(op.operationId, () => {
      const textFields = op.fields.filter(([, kind]) => kind === 'string' || kind === 'array' || kind === 'object');

      it.each(textFields)('a lone surrogate in %s (as a JSON escape): 400 with its pointer', async (field, kind) => {
        const { path, headers } = target(op);
        const before = await snapshot();
        for (const broken of ['\\ud800', '\\udbff', '\\udc00', 'a\\udfffb']) {
          const raw =
            kind === 'array' ? `["${broken}"]` : kind === 'object' ? `{"k":"${broken}"}` : `"fingerprint-${broken}"`;
          const pointer = kind === 'array' ? `/${field}/0` : kind === 'object' ? `/${field}/k` : `/${field}`;
          expectProblem(await send(op.method, path, headers, bodyWith(field, raw)), 400, 'VALIDATION_FAILED', pointer);
        }
        if (kind === 'object') {
          // In a key, the pointer stops at the object: the key itself cannot be written back.
          expectProblem(
            await send(op.method, path, headers, bodyWith(field, '{"\\udfff":"b"}')),
            400,
            'VALIDATION_FAILED',
            `/${field}`,
          );
        }
        expect(await snapshot()).toEqual(before);
      });

      it.each(textFields)(
        'invalid UTF-8 bytes in %s: 400 MALFORMED_JSON, not repaired to U+FFFD',
        async (field, kind) => {
          const { path, headers } = target(op);
          const before = await snapshot();
          // A lone byte, an overlong encoding, and CESU-8's encoding of a surrogate.
          for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
            const text = Buffer.concat([Buffer.from('"fingerprint-'), Buffer.from(bytes), Buffer.from('"')]);
            const value =
              kind === 'array'
                ? Buffer.concat([Buffer.from('['), text, Buffer.from(']')])
                : kind === 'object'
                  ? Buffer.concat([Buffer.from('{"k":'), text, Buffer.from('}')])
                  : text;
            const body = Buffer.concat([Buffer.from(`{"${field}":`), value, Buffer.from('}')]);
            expectProblem(await send(op.method, path, headers, body), 400, 'MALFORMED_JSON');
          }
          expect(await snapshot()).toEqual(before);
        },
      );

      it.each(op.fields)('%s nested 10 000 and 33 levels deep: 400 with a pointer at the 33rd level', async (field) => {
        const { path, headers } = target(op);
        const before = await snapshot();
        for (const levels of [10_000, 33]) {
          const pointer = `/${field}${'/0'.repeat(32)}`;
          expectProblem(
            await send(op.method, path, headers, bodyWith(field, deep(levels))),
            400,
            'VALIDATION_FAILED',
            pointer,
          );
        }
        expect(await snapshot()).toEqual(before);
      });

      it.each(op.fields)('%s as a number beyond a double (1e309, -1e400): 400, not stored as null', async (field) => {
        const { path, headers } = target(op);
        const before = await snapshot();
        for (const number of ['1e309', '-1e400']) {
          expectProblem(
            await send(op.method, path, headers, bodyWith(field, number)),
            400,
            'VALIDATION_FAILED',
            `/${field}`,
          );
        }
        expectProblem(
          await send(op.method, path, headers, bodyWith(field, '{"n":1e309}')),
          400,
          'VALIDATION_FAILED',
          new RegExp(`^/${field}`),
        );
        expect(await snapshot()).toEqual(before);
      });

      it('a charset other than UTF-8: 415 UNSUPPORTED_MEDIA_TYPE', async () => {
        const { path, headers } = target(op);
        const before = await snapshot();
        for (const charset of ['utf-16', 'UTF-16LE', '"iso-8859-1"', 'us-ascii']) {
          const sent = await send(
            op.method,
            path,
            { ...headers, 'Content-Type': `${op.contentType}; charset=${charset}` },
            '{}',
          );
          expectProblem(sent, 415, 'UNSUPPORTED_MEDIA_TYPE');
        }
        const utf16 = Buffer.from('{"name":"x"}', 'utf16le');
        expectProblem(
          await send(op.method, path, { ...headers, 'Content-Type': `${op.contentType}; charset=utf-16` }, utf16),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
        expect(await snapshot()).toEqual(before);
      });
    });
  }
});

describe('what is accepted is what is stored, and reads back', () => {
  const activate = (body: string) =>
    send('POST', '/machines', { ...licenseAuth(seeded.key), 'Content-Type': 'application/json' }, body);

  it('deeply nested metadata (the issue: 10 000 levels gave a 500, 1 000 was stored): 400 with its pointer', async () => {
    const before = await snapshot();
    for (const levels of [10_000, 4_000, 1_000, 32]) {
      const sent = await activate(`{"fingerprint":"fingerprint-deep","metadata":{"a":${deep(levels)}}}`);
      expectProblem(sent, 400, 'VALIDATION_FAILED', `/metadata/a${'/0'.repeat(31)}`);
    }
    for (const op of ['createPolicy', 'createLicense', 'updatePolicy', 'updateLicense']) {
      const operation = bodyOperations.find((o) => o.operationId === op)!;
      const { path, headers } = target(operation);
      const body =
        op === 'createLicense'
          ? `{"policyId":"${seeded.policyId}","metadata":{"a":${deep(10_000)}}}`
          : op === 'createPolicy'
            ? `{"name":"deep","metadata":{"a":${deep(10_000)}}}`
            : `{"metadata":{"a":${deep(10_000)}}}`;
      expectProblem(
        await send(operation.method, path, headers, body),
        400,
        'VALIDATION_FAILED',
        `/metadata/a${'/0'.repeat(31)}`,
      );
    }
    expect(await snapshot()).toEqual(before);
  });

  it('metadata 32 levels deep, the documented limit, is stored and read back whole', async () => {
    const metadata = `{"a":${deep(31, '"leaf"')}}`;
    const sent = await activate(`{"fingerprint":"fingerprint-32-levels","metadata":${metadata}}`);
    expect(sent.status, sent.text).toBe(201);
    const id = (JSON.parse(sent.text) as { data: { id: string } }).data.id;
    const read = await server.client.GET('/machines/{id}', { headers: admin, params: { path: { id } } });
    expect(read.data!.data.metadata).toEqual(JSON.parse(metadata));
  });

  it('lone surrogates do not collapse into one fingerprint, and validate does not match one for another', async () => {
    const before = await snapshot();
    for (const fingerprint of ['fingerprint-\\ud800', 'fingerprint-\\udbff']) {
      const problem = expectProblem(
        await activate(`{"fingerprint":"${fingerprint}"}`),
        400,
        'VALIDATION_FAILED',
        '/fingerprint',
      );
      // As the spec's example for activateMachine shows it.
      expect(problem.errors).toEqual([
        { pointer: '/fingerprint', message: 'must be well-formed Unicode (it has a lone surrogate)' },
      ]);
    }
    expectProblem(
      await activate('{"fingerprint":"fingerprint-x","name":"\\ud800"}'),
      400,
      'VALIDATION_FAILED',
      '/name',
    );
    expectProblem(
      await activate('{"fingerprint":"fingerprint-x","metadata":{"a":"\\ud800","\\udfff":"b"}}'),
      400,
      'VALIDATION_FAILED',
      /^\/metadata/,
    );
    // The pointer escapes `~` and `/` in keys (RFC 6901), so it names the one place it means.
    expectProblem(
      await activate('{"fingerprint":"fingerprint-x","metadata":{"a/b~c":[1,"\\ud800"]}}'),
      400,
      'VALIDATION_FAILED',
      '/metadata/a~1b~0c/1',
    );
    expect(await snapshot()).toEqual(before);

    // U+FFFD itself is a character like any other, and is its own fingerprint.
    const replacement = await activate('{"fingerprint":"fingerprint-\\ufffd"}');
    expect(replacement.status, replacement.text).toBe(201);
    const validate = (fingerprint: string) =>
      send(
        'POST',
        '/licenses/actions/validate',
        { ...licenseAuth(seeded.key), 'Content-Type': 'application/json' },
        `{"fingerprint":"${fingerprint}"}`,
      );
    expectProblem(await validate('fingerprint-\\udc00'), 400, 'VALIDATION_FAILED', '/fingerprint');
    expectProblem(await validate('fingerprint-\\ud800'), 400, 'VALIDATION_FAILED', '/fingerprint');
    const valid = await validate('fingerprint-\\ufffd');
    expect(JSON.parse(valid.text)).toMatchObject({ data: { valid: true } });
  });

  it('UTF-8 spelled out in the charset parameter, any case or quoted, is accepted', async () => {
    for (const [i, charset] of ['utf-8', 'UTF-8', '"utf-8"'].entries()) {
      const sent = await send(
        'POST',
        '/machines',
        { ...licenseAuth(seeded.key), 'Content-Type': `application/json; charset=${charset}` },
        `{"fingerprint":"fingerprint-charset-${i}"}`,
      );
      expect(sent.status, sent.text).toBe(201);
    }
  });

  it('everything the server stored reads back within the depth any standard JSON reader handles', async () => {
    const feed = await send('GET', '/events?limit=100', admin);
    expect(feed.status).toBe(200);
    expect(maxDepth(JSON.parse(feed.text))).toBeLessThan(64);
    expect(feed.text).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i);
    expect(feed.text).not.toMatch(/(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i);
  });
});

/** How deep a parsed JSON value nests, walked without recursion. */
function maxDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [current, depth] = item;
    if (current === null || typeof current !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

describe('hostile query values', () => {
  it('an instant PostgreSQL cannot hold in occurredFrom/occurredBefore (the issue: 500): 400 with its pointer', async () => {
    for (const name of ['occurredFrom', 'occurredBefore']) {
      for (const value of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00']) {
        expectProblem(
          await send('GET', `/events?${name}=${encodeURIComponent(value)}`, admin),
          400,
          'VALIDATION_FAILED',
          `/query/${name}`,
        );
      }
      for (const value of ['not-a-date', '2026-13-01T00:00:00Z', '+275760-09-13T00:00:00Z', '2026-03-01']) {
        expectProblem(
          await send('GET', `/events?${name}=${encodeURIComponent(value)}`, admin),
          400,
          'VALIDATION_FAILED',
          `/query/${name}`,
        );
      }
      // The edges themselves are instants like any other.
      for (const value of ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
        expect((await send('GET', `/events?${name}=${encodeURIComponent(value)}`, admin)).status).toBe(200);
      }
    }
  });

  it('an expiry beyond year 9999 once its offset is applied: 400, never stored', async () => {
    const before = await snapshot();
    const expiresAt = '9999-12-31T23:59:59-01:00';
    const json = { ...admin, 'Content-Type': 'application/json' };
    expectProblem(
      await send('POST', '/licenses', json, JSON.stringify({ policyId: seeded.policyId, expiresAt })),
      400,
      'VALIDATION_FAILED',
      '/expiresAt',
    );
    expectProblem(
      await send('POST', '/api-keys', json, JSON.stringify({ name: 'far', scopes: ['events:read'], expiresAt })),
      400,
      'VALIDATION_FAILED',
      '/expiresAt',
    );
    const patch = { ...admin, 'Content-Type': 'application/merge-patch+json' };
    expectProblem(
      await send('PATCH', `/licenses/${seeded.licenseId}`, patch, JSON.stringify({ expiresAt })),
      400,
      'VALIDATION_FAILED',
      '/expiresAt',
    );
    expect(await snapshot()).toEqual(before);
  });

  it.each(['/events', '/machines', '/licenses', '/policies', '/api-keys', '/webhook-endpoints'])(
    'limit out of range on %s: 400 at /query/limit',
    async (path) => {
      for (const limit of ['0', '-1', '101', '1e309', '99999999999999999999', '1.5', 'abc', '']) {
        expectProblem(
          await send('GET', `${path}?limit=${encodeURIComponent(limit)}`, admin),
          400,
          'VALIDATION_FAILED',
          '/query/limit',
        );
      }
    },
  );

  it('an id filter that is not a UUID, or not valid UTF-8 once decoded: 400, not a 500', async () => {
    for (const value of ['%ED%A0%80', '%FF', 'fingerprint-%EF%BF%BD', '%00']) {
      expectProblem(
        await send('GET', `/machines?licenseId=${value}`, admin),
        400,
        'VALIDATION_FAILED',
        '/query/licenseId',
      );
      expectProblem(
        await send('GET', `/events?machineId=${value}`, admin),
        400,
        'VALIDATION_FAILED',
        '/query/machineId',
      );
      expectProblem(await send('GET', `/events?type=${value}`, admin), 400, 'VALIDATION_FAILED', '/query/type');
      expectProblem(await send('GET', `/events?cursor=${value}`, admin), 400, 'VALIDATION_FAILED', '/query/cursor');
    }
  });
});

describe('the same rules in the domain, for callers that bypass HTTP (the CLI)', () => {
  it('deep, unpaired or infinite metadata and names are refused by the services themselves, without exhausting the stack', async () => {
    let deepValue: unknown = 1;
    for (let i = 0; i < 100_000; i++) deepValue = [deepValue];
    const before = await snapshot();
    const services = server.services();
    const refusals: [() => Promise<unknown>, string][] = [
      [
        () => services.policies.create({ name: 'deep', metadata: { a: deepValue } } as never),
        `/metadata/a${'/0'.repeat(31)}`,
      ],
      [() => services.policies.create({ name: 'lone', metadata: { a: 'x\ud800' } } as never), '/metadata/a'],
      [() => services.policies.create({ name: 'infinite', metadata: { n: Infinity } } as never), '/metadata/n'],
      [() => services.policies.create({ name: 'name \udc00' } as never), '/name'],
      [
        () =>
          services.licenses.create({ policyId: seeded.policyId, expiresAt: new Date('0000-06-01T00:00:00Z') } as never),
        '/expiresAt',
      ],
    ];
    for (const [refusal, pointer] of refusals) {
      await expect(refusal()).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: expect.arrayContaining([expect.objectContaining({ pointer })]),
      });
    }
    expect(await snapshot()).toEqual(before);
  });
});
