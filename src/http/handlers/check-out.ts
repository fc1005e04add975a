import type { components } from '../../../generated/api.d.ts';
import { LicenseNotFound } from '../../core/errors.ts';
import type { CheckedOutFile, CheckOutCaller } from '../../licenses/check-out.ts';
import { licenseGone, licenseOf } from '../security.ts';
import type { Handlers, Principal } from '../types.ts';

type CheckOutBody = components['schemas']['CheckOutRequest'] | undefined;

/** The `q` a media range of `Accept` gives `type`, the most specific range winning (RFC 9110 §12.5.1). */
function quality(accept: string, type: string): number {
  const [major] = type.split('/');
  let best = { specificity: -1, q: 0 };
  for (const range of accept.split(',')) {
    const [name = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const specificity = name === type ? 2 : name === `${major}/*` ? 1 : name === '*/*' ? 0 : -1;
    if (specificity <= best.specificity) continue;
    const q = params.find((param) => param.startsWith('q='));
    const value = q === undefined ? 1 : Number(q.slice(2));
    best = { specificity, q: Number.isFinite(value) ? value : 0 };
  }
  return best.q;
}

/**
 * The bare file when `Accept` prefers `application/octet-stream` to JSON; JSON otherwise, also
 * for no `Accept` or one that takes any type, so clients that negotiate nothing get the documented envelope.
 */
function wantsDownload(accept: string | string[] | undefined): boolean {
  if (accept === undefined) return false;
  const header = Array.isArray(accept) ? accept.join(',') : accept;
  return quality(header, 'application/octet-stream') > quality(header, 'application/json');
}

function answer(file: CheckedOutFile, accept: string | string[] | undefined) {
  if (wantsDownload(accept)) {
    return {
      status: 200 as const,
      body: file.certificate,
      contentType: 'application/octet-stream' as const,
      headers: { 'Content-Disposition': `attachment; filename="${file.subjectId}.lic"` },
    };
  }
  return {
    status: 200 as const,
    body: {
      data: {
        id: file.id,
        certificate: file.certificate,
        algorithm: file.algorithm,
        issued: file.issued.toISOString(),
        expiry: file.expiry?.toISOString() ?? null,
        ttl: file.ttl,
        keyId: file.keyId,
      },
    },
  };
}

function callerOf(principal: Principal): CheckOutCaller {
  return principal.kind === 'license'
    ? { kind: 'license', licenseId: principal.license.id, key: principal.key }
    : { kind: 'apiKey' };
}

const request = (body: CheckOutBody) => ({
  ttl: body?.ttl,
  encrypt: body?.encrypt,
  include: body?.include,
  licenseKey: body?.licenseKey,
});

export const checkOutHandlers = {
  async checkOutMachine({ path, body, headers, principal, services }) {
    const file = await services.checkOuts.machineFile(path.id, callerOf(principal), request(body));
    return answer(file, headers.accept);
  },

  async checkOutLicense({ body, headers, principal, services }) {
    try {
      const file = await services.checkOuts.licenseFile(licenseOf(principal).id, callerOf(principal), request(body));
      return answer(file, headers.accept);
    } catch (error) {
      // Deleted since the key was authenticated: the key no longer works, as everywhere else.
      if (error instanceof LicenseNotFound) throw licenseGone();
      throw error;
    }
  },

  async checkOutLicenseById({ path, body, headers, principal, services }) {
    const file = await services.checkOuts.licenseFile(path.id, callerOf(principal), request(body));
    return answer(file, headers.accept);
  },
} satisfies Pick<Handlers, 'checkOutMachine' | 'checkOutLicense' | 'checkOutLicenseById'>;
