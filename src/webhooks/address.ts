import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where webhooks may go. Only https, and never to the server's own networks: private, loopback,
 * link-local (cloud metadata lives at 169.254.169.254), shared, multicast and reserved addresses
 * are refused, when an endpoint is created and again at each delivery, against the address the
 * connection actually uses (a name that resolved to a public address at creation may resolve to
 * 127.0.0.1 later). `allowPrivate` lifts both rules, for development and the tests.
 */
const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv6');
}

export interface AddressPolicy {
  /** Allow http and private, loopback and link-local addresses (development, tests). */
  allowPrivate: boolean;
}

/** Why an IP address may not receive webhooks, or null if it may. */
export function refusedAddress(address: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  return REFUSED.check(ip, family) ? `is a private, loopback, link-local or reserved address (${address})` : null;
}

/** Why a URL may not be a webhook endpoint as written (scheme, credentials, literal address), or null. */
export function refusedUrl(url: string, policy: AddressPolicy): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:' && !(policy.allowPrivate && parsed.protocol === 'http:')) return 'is not an https URL';
  if (parsed.username !== '' || parsed.password !== '') return 'carries credentials';
  if (policy.allowPrivate) return null;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return refusedAddress(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return `names a loopback host (${host})`;
  return null;
}

/** Resolves a host and refuses it if any of its addresses is refused; returns the addresses. */
export async function resolveAllowed(host: string, policy: AddressPolicy): Promise<{ address: string; family: number }[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = isIP(bare) !== 0 ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true });
  if (!policy.allowPrivate) {
    for (const { address } of addresses) {
      const refusal = refusedAddress(address);
      if (refusal !== null) throw new Error(`refused: ${host} resolves to an address that ${refusal}`);
    }
  }
  return addresses;
}
