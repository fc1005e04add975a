import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, seedApiKey, useTestServer } from './support/harness.ts';

// The server as it runs by default: webhooks only to public https URLs.
const server = useTestServer();
let hooks: Record<string, string>;

beforeAll(async () => {
  hooks = bearer(await seedApiKey(server, ['webhooks:write']));
});

describe('webhook endpoint URLs', () => {
  it.each([
    ['http://billing.example.com/hook', 'must be an https URL'],
    ['ftp://billing.example.com/hook', 'must be an https URL'],
    ['https://user:pass@billing.example.com/hook', 'must not carry credentials'],
    ['https://127.0.0.1/hook', '127.0.0.1 is a private, loopback, link-local or reserved address'],
    ['https://10.1.2.3/hook', '10.1.2.3 is a private, loopback, link-local or reserved address'],
    ['https://192.168.0.10/hook', '192.168.0.10 is a private, loopback, link-local or reserved address'],
    ['https://169.254.169.254/latest/meta-data', '169.254.169.254 is a private, loopback, link-local or reserved address'],
    ['https://[::1]/hook', '::1 is a private, loopback, link-local or reserved address'],
    ['https://[fe80::1]/hook', 'fe80::1 is a private, loopback, link-local or reserved address'],
    ['https://[::ffff:127.0.0.1]/hook', '::ffff:7f00:1 is a private, loopback, link-local or reserved address'],
    ['https://localhost/hook', 'localhost is a loopback name'],
    ['not-a-url', 'is not a URL'],
  ])('refuses %s at creation, and writes nothing', async (url, message) => {
    const before = await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints');
    const { response, error } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url } });
    expect(response.status).toBe(400);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ pointer: '/url', message }] });
    expect(await server.sql<{ n: string }>('select count(*) as n from webhook_endpoints')).toEqual(before);
  });

  it('accepts a public https URL, and refuses changing it to a private one', async () => {
    const { response, data } = await server.client.POST('/webhook-endpoints', { headers: hooks, body: { url: 'https://billing.example.com/hook' } });
    expect(response.status).toBe(201);
    const changed = await fetch(`${server.apiUrl}/webhook-endpoints/${data!.data.id}`, {
      method: 'PATCH',
      headers: { ...hooks, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ url: 'https://172.16.0.1/hook' }),
    });
    expect(changed.status).toBe(400);
    const got = await server.client.GET('/webhook-endpoints/{id}', { headers: hooks, params: { path: { id: data!.data.id } } });
    expect(got.data!.data.url).toBe('https://billing.example.com/hook');
  });
});
