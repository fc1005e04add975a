import { describe, expect, it } from 'vitest';
import { type AddressPolicy, checkTarget } from '../src/webhooks/address.ts';
import { offlineResolver, patch, useApiKey, useTestServer } from './support/harness.ts';

// The server as it runs by default: webhooks only to public https URLs. `intranet.test` stands
// for a name the hosts file points at loopback; the tests resolve no name through DNS.
const policy: AddressPolicy = {
  allowPrivate: false,
  resolve: async (host) => (host === 'intranet.test' ? [{ address: '127.0.0.1', family: 4 }] : offlineResolver(host)),
};
const server = useTestServer({ webhookAddresses: policy });
const hooks = useApiKey(server, ['webhooks:write']);

describe('webhook endpoint URLs', () => {
  it.each([
    ['http://billing.example.com/hook', 'is not an https URL'],
    ['ftp://billing.example.com/hook', 'is not an https URL'],
    ['https://user:pass@billing.example.com/hook', 'carries credentials'],
    ['https://127.0.0.1/hook', 'is a private, loopback, link-local or reserved address (127.0.0.1)'],
    ['https://10.1.2.3/hook', 'is a private, loopback, link-local or reserved address (10.1.2.3)'],
    ['https://192.168.0.10/hook', 'is a private, loopback, link-local or reserved address (192.168.0.10)'],
    [
      'https://169.254.169.254/latest/meta-data',
      'is a private, loopback, link-local or reserved address (169.254.169.254)',
    ],
    ['https://[::1]/hook', 'is a private, loopback, link-local or reserved address (::1)'],
    ['https://[fe80::1]/hook', 'is a private, loopback, link-local or reserved address (fe80::1)'],
    ['https://[::ffff:127.0.0.1]/hook', 'is a private, loopback, link-local or reserved address (::ffff:7f00:1)'],
    ['https://localhost/hook', 'names a loopback host (localhost)'],
    ['https://localhost./hook', 'names a loopback host (localhost.)'],
    ['https://api.LOCALHOST./hook', 'names a loopback host (api.localhost.)'],
    ['https://[::127.0.0.1]/hook', 'is a private, loopback, link-local or reserved address (::7f00:1)'],
    ['https://[2002:7f00:1::]/hook', 'is a private, loopback, link-local or reserved address (2002:7f00:1::)'],
    ['https://[2002:a9fe:a9fe::1]/hook', 'is a private, loopback, link-local or reserved address (2002:a9fe:a9fe::1)'],
    [
      'https://intranet.test/hook',
      'resolves to an address that is a private, loopback, link-local or reserved address (127.0.0.1)',
    ],
    ['https://billing.example.com:0/hook', 'has port 0'],
    ['not-a-url', 'is not a URL'],
  ])('refuses %s at creation with 422 WEBHOOK_URL_REFUSED, and writes nothing', async (url, reason) => {
    const before = await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints');
    const { response, error } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url } });
    expect(response.status).toBe(422);
    expect(error).toMatchObject({
      code: 'WEBHOOK_URL_REFUSED',
      detail: `Webhooks cannot be sent to ${url}: it ${reason}.`,
    });
    expect(await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints')).toEqual(before);
    // What delivery checks before it connects: the same rule, the same reason.
    expect(await checkTarget(url, policy)).toEqual({ refusal: reason });
  });

  it('refuses changing a URL to a name that resolves to loopback, with the same reason', async () => {
    const { data } = await server.client.POST('/webhook-endpoints', {
      headers: hooks,
      body: { url: 'https://billing.example.com/hook' },
    });
    const changed = await fetch(`${server.apiUrl}/webhook-endpoints/${data!.data.id}`, {
      method: 'PATCH',
      headers: { ...hooks, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ url: 'https://intranet.test/hook' }),
    });
    expect(changed.status).toBe(422);
    expect(await changed.json()).toMatchObject({
      code: 'WEBHOOK_URL_REFUSED',
      detail:
        'Webhooks cannot be sent to https://intranet.test/hook: it resolves to an address that is a private, loopback, link-local or reserved address (127.0.0.1).',
    });
  });

  it('takes a name that does not resolve (yet): delivery checks it again before it connects', async () => {
    const { response } = await server.client.POST('/webhook-endpoints', {
      headers: hooks,
      body: { url: 'https://not-yet.invalid/hook' },
    });
    expect(response.status).toBe(201);
    await expect(checkTarget('https://not-yet.invalid/hook', policy)).rejects.toThrow('ENOTFOUND');
  });

  it('still takes a public IPv6 address and a 6to4 address of a public one', async () => {
    for (const url of ['https://[2001:4860:4860::8888]/hook', 'https://[2002:0808:0808::1]/hook']) {
      const { response } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url } });
      expect(response.status, url).toBe(201);
    }
  });

  it('accepts a public https URL, and refuses changing it to a private one', async () => {
    const { response, data } = await server.client.POST('/webhook-endpoints', {
      headers: hooks,
      body: { url: 'https://billing.example.com/hook' },
    });
    expect(response.status).toBe(201);
    const changed = await patch(server, hooks, '/webhook-endpoints/{id}', data!.data.id, {
      url: 'https://172.16.0.1/hook',
    });
    expect(changed.status).toBe(422);
    const got = await server.client.GET('/webhook-endpoints/{id}', {
      headers: hooks,
      params: { path: { id: data!.data.id } },
    });
    expect(got.data!.data.url).toBe('https://billing.example.com/hook');
  });
});
