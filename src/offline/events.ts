/**
 * The signing key as events carry it, rendered by PostgreSQL as the API's presenter renders it
 * (`publicKeyForms`): the public key only, in its three forms. The sealed private key is never
 * read here.
 */
import { isoTimestampSql, type Sql, sql } from '../db/sql.ts';
import type { Subject } from '../events/record.ts';

const iso = (column: string): Sql => isoTimestampSql(sql.raw(column));

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo: what precedes the 32 raw bytes. */
const SPKI_PREFIX = '302a300506032b6570032100';

/** A signing key row aliased `s`. */
export function signingKeyJsonSql(s: string): Sql {
  const column = (name: string) => sql.raw(`${s}.${name}`);
  // 44 DER bytes are 60 base64 characters: one PEM line, under encode()'s wrap at 76.
  const pem = sql`'-----BEGIN PUBLIC KEY-----' || chr(10)
    || encode(decode(${SPKI_PREFIX}, 'hex') || ${column('public_key')}, 'base64')
    || chr(10) || '-----END PUBLIC KEY-----' || chr(10)`;
  const x = sql`translate(rtrim(encode(${column('public_key')}, 'base64'), '='), '+/', '-_')`;
  return sql`json_build_object(
    'id', ${column('id')}, 'algorithm', ${column('algorithm')}, 'publicKey', encode(${column('public_key')}, 'hex'),
    'publicKeyPem', ${pem},
    'jwk', json_build_object('kty', 'OKP', 'crv', 'Ed25519', 'x', ${x}, 'kid', ${column('id')}, 'alg', 'EdDSA', 'use', 'sig'),
    'status', ${column('status')}, 'createdAt', ${iso(`${s}.created_at`)}, 'activatedAt', ${iso(`${s}.activated_at`)},
    'retiredAt', ${iso(`${s}.retired_at`)}, 'revokedAt', ${iso(`${s}.revoked_at`)})`;
}

/** One signing key, for `recordEvent`. */
export function signingKeySubject(id: string): Subject {
  return { name: 'signingKey', from: sql`signing_keys s where s.id = ${id}`, object: () => signingKeyJsonSql('s') };
}
