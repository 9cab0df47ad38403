// Which push endpoints a receiver may name, and which addresses the
// transmitter connects to: the SSRF rules. A receiver controls a URL the
// service will POST to from inside its network, so:
//
//   - production (NODE_ENV=production): https only; the host's addresses are
//     resolved AT CONNECTION TIME and the connection is refused when any of
//     them is loopback, private, link-local, CGNAT, multicast, reserved or
//     another non-public range (IPv4-mapped, NAT64, 6to4 and Teredo forms
//     included; IPv4-mapped IPv6 addresses are checked as the IPv4 address
//     they carry), unless the host is on SSF_PUSH_ALLOWED_HOSTS. The address
//     checked is the address connected to, so a DNS answer that changes between
//     a check and the connection (rebinding) gains nothing;
//   - elsewhere (development, tests): http only to loopback (localhost, 127/8,
//     ::1), checked the same way; https anywhere;
//   - never: credentials in the URL, a fragment, redirects (a 3xx answer is a
//     failed delivery, never followed).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

export interface EndpointPolicy {
  production: boolean
  /** Lower-cased host names (or IP literals) whose addresses are not checked. */
  allowedHosts: ReadonlySet<string>
}

const NON_PUBLIC = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32],
  ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv6')

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

const familyOf = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4')

export function isNonPublic (address: string): boolean {
  return NON_PUBLIC.check(address, familyOf(address))
}

export function isLoopback (address: string): boolean {
  return LOOPBACK.check(address, familyOf(address))
}

/** The URL's host as a name or an address (IPv6 without its brackets), lower-cased. */
export function hostOf (url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
}

/** Why a push endpoint is refused at configuration time, or null. Addresses are checked again at every connection. */
export function pushEndpointProblem (raw: string, policy: EndpointPolicy): string | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'endpoint_url must be an absolute URL'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'endpoint_url must be an https URL'
  if (url.username !== '' || url.password !== '') return 'endpoint_url must not hold credentials (use authorization_header)'
  if (url.hash !== '' || raw.includes('#')) return 'endpoint_url must not have a fragment'
  const host = hostOf(url)
  if (url.protocol === 'http:') {
    if (policy.production) return 'endpoint_url must be an https URL (NODE_ENV=production)'
    if (host !== 'localhost' && !(isIP(host) !== 0 && isLoopback(host))) {
      return 'an http endpoint_url must be on loopback (localhost, 127.0.0.1, ::1); use https'
    }
  }
  if (policy.production && !policy.allowedHosts.has(host) && isIP(host) !== 0 && isNonPublic(host)) {
    return 'endpoint_url is a non-public address; an operator may allow its host in SSF_PUSH_ALLOWED_HOSTS'
  }
  return null
}

/** Refused at connection time: the message names the rule, never the address found. */
export class EndpointRefused extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'EndpointRefused'
  }
}

/** Whether the transmitter may connect to `address` for this URL (the rules above). */
function addressAllowed (url: URL, address: string, policy: EndpointPolicy): boolean {
  if (url.protocol === 'http:') return !policy.production && isLoopback(address)
  if (!policy.production || policy.allowedHosts.has(hostOf(url))) return true
  return !isNonPublic(address)
}

/**
 * The check for a URL whose host is an address (no lookup happens for those),
 * made before connecting.
 */
export function literalAllowed (url: URL, policy: EndpointPolicy): boolean {
  const host = hostOf(url)
  return isIP(host) === 0 || addressAllowed(url, host, policy)
}

/**
 * A `lookup` for node:http(s) that resolves every address of the host and
 * fails when any of them is not allowed: the socket then connects only to an
 * address that passed.
 */
export function guardedLookup (url: URL, policy: EndpointPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err !== null) {
        callback(err, '', 0)
        return
      }
      if (addresses.length === 0 || !addresses.every((a) => addressAllowed(url, a.address, policy))) {
        const refused = new EndpointRefused(url.protocol === 'http:'
          ? 'an http endpoint must resolve to loopback only'
          : 'the endpoint resolves to a non-public address')
        callback(refused as NodeJS.ErrnoException, '', 0)
        return
      }
      if (options.all === true) {
        (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses)
      } else {
        callback(null, addresses[0]!.address, addresses[0]!.family)
      }
    })
  }
}

/**
 * In production, the host resolved once at configuration time too, so that a
 * receiver learns at once that its endpoint will be refused. A name that does
 * not resolve yet is accepted: every delivery checks again.
 */
export async function resolvedEndpointProblem (raw: string, policy: EndpointPolicy): Promise<string | null> {
  const url = new URL(raw)
  const host = hostOf(url)
  if (!policy.production || isIP(host) !== 0 || policy.allowedHosts.has(host)) return null
  const addresses = await new Promise<LookupAddress[]>((resolve) => {
    dnsLookup(host, { all: true }, (err, found) => resolve(err === null ? found : []))
  })
  return addresses.some((a) => !addressAllowed(url, a.address, policy))
    ? 'endpoint_url resolves to a non-public address; an operator may allow its host in SSF_PUSH_ALLOWED_HOSTS'
    : null
}
