import { describe, expect, it } from 'vitest';
import { patch, useApiKey, useTestServer } from './support/harness.ts';

// The server as it runs by default: webhooks only to public https URLs.
const server = useTestServer();
const hooks = useApiKey(server, ['webhooks:write']);

describe('webhook endpoint URLs', () => {
  it.each([
    ['http://billing.example.com/hook', 'is not an https URL'],
    ['ftp://billing.example.com/hook', 'is not an https URL'],
    ['https://user:pass@billing.example.com/hook', 'carries credentials'],
    ['https://127.0.0.1/hook', 'is a private, loopback, link-local or reserved address (127.0.0.1)'],
    ['https://10.1.2.3/hook', 'is a private, loopback, link-local or reserved address (10.1.2.3)'],
    ['https://192.168.0.10/hook', 'is a private, loopback, link-local or reserved address (192.168.0.10)'],
    ['https://169.254.169.254/latest/meta-data', 'is a private, loopback, link-local or reserved address (169.254.169.254)'],
    ['https://[::1]/hook', 'is a private, loopback, link-local or reserved address (::1)'],
    ['https://[fe80::1]/hook', 'is a private, loopback, link-local or reserved address (fe80::1)'],
    ['https://[::ffff:127.0.0.1]/hook', 'is a private, loopback, link-local or reserved address (::ffff:7f00:1)'],
    ['https://localhost/hook', 'names a loopback host (localhost)'],
    ['not-a-url', 'is not a URL'],
  ])('refuses %s at creation with 422 WEBHOOK_URL_REFUSED, and writes nothing', async (url, reason) => {
    const before = await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints');
    const { response, error } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url } });
    expect(response.status).toBe(422);
    expect(error).toMatchObject({ code: 'WEBHOOK_URL_REFUSED', detail: `Webhooks cannot be sent to ${url}: it ${reason}.` });
    expect(await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints')).toEqual(before);
  });

  it('accepts a public https URL, and refuses changing it to a private one', async () => {
    const { response, data } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url: 'https://billing.example.com/hook' } });
    expect(response.status).toBe(201);
    const changed = await patch(server, hooks, '/webhook-endpoints/{id}', data!.data.id, { url: 'https://172.16.0.1/hook' });
    expect(changed.status).toBe(422);
    const got = await server.client.GET('/webhook-endpoints/{id}', { headers: hooks, params: { path: { id: data!.data.id } } });
    expect(got.data!.data.url).toBe('https://billing.example.com/hook');
  });
});
