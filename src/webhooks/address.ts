import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where webhooks may go. Only https, and never to the server's own networks: private, loopback,
 * link-local (cloud metadata lives at 169.254.169.254), shared, multicast and reserved addresses
 * are refused, also when written inside an IPv6 address (IPv4-mapped, IPv4-compatible, 6to4).
 * One check (checkTarget) runs when an endpoint is saved and again at each delivery, against the
 * address the connection actually uses: a name that resolved to a public address at saving may
 * resolve to 127.0.0.1 later. `allowPrivate` lifts the address rules, for development and tests.
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
  // IPv4-compatible addresses (deprecated), with :: and ::1 among them.
  ['::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv6');
}

/** How long saving an endpoint waits for its name to resolve before it takes the URL unchecked. */
const SAVE_LOOKUP_MS = 2_000;

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Name resolution: the system's (hosts file, then DNS) unless a caller brings its own. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = (host) => lookup(host, { all: true });

export interface AddressPolicy {
  /** Allow http and private, loopback and link-local addresses (development, tests). */
  allowPrivate: boolean;
  /** How names are resolved; the system's resolver when absent. */
  resolve?: Resolver;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad is two of them). */
function ipv6Groups(ip: string): number[] {
  let text = ip.replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const before = head === '' ? [] : head.split(':');
  const after = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? before : [...before, ...Array<string>(8 - before.length - after.length).fill('0'), ...after];
  return groups.map((group) => parseInt(group, 16));
}

/** The IPv4 address an IPv6 address carries, where the network would deliver to it, or null. */
function embeddedIPv4(ip: string): string | null {
  const g = ipv6Groups(ip);
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  // ::ffff:a.b.c.d (IPv4-mapped)
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return quad(g[6]!, g[7]!);
  // 2002:aabb:ccdd::/48 (6to4)
  if (g[0] === 0x2002) return quad(g[1]!, g[2]!);
  return null;
}

/** Why an IP address may not receive webhooks, or null if it may. */
export function refusedAddress(address: string): string | null {
  const refusal = `is a private, loopback, link-local or reserved address (${address})`;
  if (isIP(address) === 6) {
    const inner = embeddedIPv4(address);
    if (inner !== null && REFUSED.check(inner, 'ipv4')) return refusal;
    return REFUSED.check(address.replace(/%.*$/, ''), 'ipv6') ? refusal : null;
  }
  return REFUSED.check(address, 'ipv4') ? refusal : null;
}

/** Why a URL may not be a webhook endpoint as written (scheme, credentials, port, literal address), or null. */
export function refusedUrl(url: string, policy: AddressPolicy): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:' && !(policy.allowPrivate && parsed.protocol === 'http:'))
    return 'is not an https URL';
  if (parsed.username !== '' || parsed.password !== '') return 'carries credentials';
  // Nothing listens on port 0; a connection to it fails at every delivery.
  if (parsed.port === '0') return 'has port 0';
  if (policy.allowPrivate) return null;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return refusedAddress(host);
  // `localhost.` is the same name as `localhost`, fully qualified.
  const name = host.replace(/\.$/, '').toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return `names a loopback host (${host})`;
  return null;
}

/** What the check of a webhook URL found: why it is refused, or the addresses to connect to. */
export type Target = { refusal: string } | { addresses: ResolvedAddress[] };

/**
 * The check of a webhook URL, on saving and at each delivery: the URL as written, then every
 * address its host resolves to. Throws when the name does not resolve.
 */
export async function checkTarget(url: string, policy: AddressPolicy): Promise<Target> {
  const refusal = refusedUrl(url, policy);
  if (refusal !== null) return { refusal };
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const addresses =
    isIP(host) !== 0 ? [{ address: host, family: isIP(host) }] : await (policy.resolve ?? systemResolver)(host);
  if (addresses.length === 0) throw new Error(`${host} resolves to no address`);
  if (!policy.allowPrivate) {
    for (const { address } of addresses) {
      const refused = refusedAddress(address);
      if (refused !== null) return { refusal: `resolves to an address that ${refused}` };
    }
  }
  return { addresses };
}

/**
 * Why a URL may not be saved as a webhook endpoint, or null. A name that does not resolve (yet,
 * or not from here, or not within SAVE_LOOKUP_MS) is taken: its record may come after the
 * endpoint, and every delivery checks again before it connects.
 */
export async function refusedOnSave(url: string, policy: AddressPolicy): Promise<string | null> {
  // Nothing left to refuse by address, and no lookup to wait for.
  if (policy.allowPrivate) return refusedUrl(url, policy);
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), SAVE_LOOKUP_MS)));
  try {
    const target = await Promise.race([checkTarget(url, policy), gaveUp]);
    return target !== null && 'refusal' in target ? target.refusal : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
