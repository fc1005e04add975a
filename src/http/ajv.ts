import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`; under Node's ESM interop the function is there.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

/**
 * The JSON Schema 2020-12 validator OpenAPI 3.1 calls for, with the formats our spec uses
 * (uuid, date-time, uri, int32) actually checked rather than ignored.
 */
export function createAjv(options: Record<string, unknown> = {}): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, ...options });
  addFormats(ajv);
  // OpenAPI's own keywords, which JSON Schema does not know.
  ajv.addKeyword({ keyword: 'discriminator' });
  ajv.addVocabulary(['xml', 'externalDocs', 'example']);
  return ajv;
}
