/**
 * Where a webhook may point (SSRF). An admin-supplied URL is a request the service makes from inside its own
 * network: in production only public https receivers are allowed, so no URL reaches the VPC, the metadata
 * service (169.254.169.254, fd00:ec2::254) or a loopback port. The rule is checked when a subscription is
 * created or changed, AND at every delivery: the host is resolved, every address checked, and the connection
 * made to the address that was checked (the connector's lookup), so a DNS answer that changes between the
 * check and the connection (rebinding) cannot switch it.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** `dns.lookup` with `all: true`, injectable (tests resolve names without real DNS). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

export interface UrlPolicy {
  /** Private, loopback, link-local... addresses and plain http are allowed (off in production by default). */
  allowPrivate: boolean;
  resolve: Resolver;
}

export class RefusedUrl extends Error {
  override name = 'RefusedUrl';
  constructor(
    readonly code: 'webhook_url_invalid' | 'webhook_url_not_https' | 'webhook_url_private' | 'webhook_url_unresolved',
    message: string,
  ) {
    super(message);
  }
}

/** Only the public unicast internet: every other range ipaddr.js names is refused. */
const PUBLIC_RANGES = new Set(['unicast']);

/** Why this address may not be called, or undefined when it is a public unicast address. */
export function addressRefusal(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  let parsed = ipaddr.parse(address);
  // ::ffff:10.0.0.1 is 10.0.0.1.
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  // The AWS metadata service over IPv6 sits in the unique-local range; named here for the error message.
  if (address.toLowerCase() === 'fd00:ec2::254' || address === '169.254.169.254') {
    return `${address} is the cloud metadata service`;
  }
  if (!PUBLIC_RANGES.has(range)) return `${address} is a ${range} address`;
  return undefined;
}

/** The URL as the service will call it, or why not (synchronous part: syntax, scheme, literal addresses). */
export function checkUrlSyntax(raw: string, policy: Pick<UrlPolicy, 'allowPrivate'>): URL {
  if (!URL.canParse(raw)) throw new RefusedUrl('webhook_url_invalid', 'The webhook URL is not a valid URL');
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RefusedUrl('webhook_url_invalid', 'The webhook URL must be http or https');
  }
  if (url.username || url.password) {
    throw new RefusedUrl('webhook_url_invalid', 'The webhook URL must not carry credentials');
  }
  if (!policy.allowPrivate && url.protocol !== 'https:') {
    throw new RefusedUrl('webhook_url_not_https', 'The webhook URL must be https');
  }
  const host = hostOf(url);
  if (!policy.allowPrivate && isIP(host)) {
    const refusal = addressRefusal(host);
    if (refusal) throw new RefusedUrl('webhook_url_private', `The webhook URL may not point to ${refusal}`);
  }
  return url;
}

/** The host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Resolves the host and checks every address it has (a name with one private address is refused). */
export async function checkedAddresses(host: string, policy: UrlPolicy): Promise<LookupAddress[]> {
  if (isIP(host)) {
    if (!policy.allowPrivate) {
      const refusal = addressRefusal(host);
      if (refusal) throw new RefusedUrl('webhook_url_private', `The webhook URL may not point to ${refusal}`);
    }
    return [{ address: host, family: isIP(host) }];
  }
  let addresses: LookupAddress[];
  try {
    addresses = await policy.resolve(host);
  } catch (err) {
    throw new RefusedUrl(
      'webhook_url_unresolved',
      `The webhook host ${host} does not resolve (${(err as Error).message})`,
    );
  }
  if (addresses.length === 0) throw new RefusedUrl('webhook_url_unresolved', `The webhook host ${host} has no address`);
  if (!policy.allowPrivate) {
    for (const { address } of addresses) {
      const refusal = addressRefusal(address);
      if (refusal) {
        throw new RefusedUrl('webhook_url_private', `The webhook host ${host} resolves to ${refusal}`);
      }
    }
  }
  return addresses;
}

/**
 * The whole check of a subscription's URL (creation, change). Where private addresses are allowed nothing
 * needs the name's addresses, so it is not resolved (a receiver's name may only exist where it runs).
 */
export async function checkUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  const url = checkUrlSyntax(raw, policy);
  if (!policy.allowPrivate) await checkedAddresses(hostOf(url), policy);
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls.connect that resolves through the policy and answers only with checked addresses:
 * the socket connects to exactly what was checked. (An IP literal never reaches a lookup; the sender checks
 * it before connecting.)
 */
export function guardedLookup(policy: UrlPolicy) {
  return (hostname: string, options: { all?: boolean } | number, callback: LookupCallback): void => {
    checkedAddresses(hostname, policy).then(
      (addresses) => {
        if (typeof options === 'object' && options?.all) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family);
      },
      (err: Error) => callback(Object.assign(err, { code: (err as RefusedUrl).code ?? 'ENOTFOUND' }), '', 0),
    );
  };
}
