// Client authentication at the OAuth endpoints (RFC 6749 §2.3.1): what the
// request presents (HTTP Basic or body parameters), who the caller then is (a
// stored confidential client, or the built-in public `default` client), and
// which grants and scopes that caller may use.
import type { ClientProfile } from '../auth/auth-service.js'
import { DEFAULT_CLIENT_ID, DEFAULT_PUBLIC_GRANTS, parseScope, type ClientService } from '../clients/clients.js'
import type { ClientRecord, GrantType } from '../store/types.js'
import { RateLimitUnavailableError } from '../errors.js'
import type { ClientThrottle } from './client-throttle.js'
import { OAuthError } from './errors.js'

export interface PresentedClient {
  clientId: string
  secret: string | undefined
  method: 'client_secret_basic' | 'client_secret_post' | 'none'
  /** The address the request came from (the client IP, as the rate limits count it). */
  from: string
}

/** The longest client_id and client_secret accepted, in the body or in HTTP Basic. */
export const CLIENT_ID_MAX = 128
export const CLIENT_SECRET_MAX = 256

const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i

function formDecode (value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

/**
 * The client credentials of a request from `from` (its client IP): HTTP Basic
 * (id and secret each form-urlencoded, RFC 6749 §2.3.1) or `client_id` /
 * `client_secret` in the body. Using both is invalid_request (§2.3); none gives null.
 */
export function presentedClient (
  authorization: string | undefined, body: { client_id?: string | undefined, client_secret?: string | undefined }, from: string
): PresentedClient | null {
  if (authorization !== undefined && /^basic\b/i.test(authorization)) {
    if (body.client_secret !== undefined) {
      throw new OAuthError('invalid_request', 'use one client authentication method, not several')
    }
    const match = BASIC.exec(authorization)
    const decoded = match?.[1] !== undefined ? Buffer.from(match[1], 'base64').toString('utf8') : ''
    const colon = decoded.indexOf(':')
    if (colon < 1) throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials', true)
    let clientId: string, secret: string
    try {
      clientId = formDecode(decoded.slice(0, colon))
      secret = formDecode(decoded.slice(colon + 1))
    } catch {
      throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials', true)
    }
    if (clientId.length > CLIENT_ID_MAX || secret.length > CLIENT_SECRET_MAX) {
      throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials', true)
    }
    if (body.client_id !== undefined && body.client_id !== clientId) {
      throw new OAuthError('invalid_request', 'client_id in the body differs from the authenticated client')
    }
    return { clientId, secret, method: 'client_secret_basic', from }
  }
  if (body.client_id === undefined) {
    if (body.client_secret !== undefined) throw new OAuthError('invalid_request', 'client_secret without client_id')
    return null
  }
  return body.client_secret === undefined
    ? { clientId: body.client_id, secret: undefined, method: 'none', from }
    : { clientId: body.client_id, secret: body.client_secret, method: 'client_secret_post', from }
}

/**
 * The caller: a confidential client that authenticated, or a public client named
 * by its client_id (a stored one, or null for the built-in `default` client).
 */
export type Caller = { kind: 'confidential', client: ClientRecord } | { kind: 'public', client: ClientRecord | null }

/**
 * Authenticates the presented client; `allowPublic` lets public clients (no
 * secret) through. Failed secrets count in `throttle` (when given), per
 * client_id and address. `beforeVerify` runs before any argon2 work.
 */
export async function authenticateClient (
  clients: ClientService, presented: PresentedClient | null, allowPublic: boolean, throttle?: ClientThrottle,
  beforeVerify?: () => Promise<void>
): Promise<Caller> {
  if (presented === null || (presented.clientId === DEFAULT_CLIENT_ID && presented.secret === undefined)) {
    if (allowPublic) return { kind: 'public', client: null }
    throw new OAuthError('invalid_client', 'client authentication is required', presented?.method === 'client_secret_basic')
  }
  const basic = presented.method === 'client_secret_basic'
  if (presented.secret === undefined) {
    // A client_id alone identifies only a public client; a confidential one must prove it is itself.
    const client = allowPublic ? await clients.findPublic(presented.clientId) : null
    if (client !== null) return { kind: 'public', client }
    throw new OAuthError('invalid_client', 'this client must authenticate with its secret', basic)
  }
  let wait: number | null
  try {
    wait = await throttle?.retryAfter(presented.clientId, presented.from) ?? null
  } catch (err) {
    // The shared counters are unreachable. A secret that verified moments ago
    // costs no argon2 and is no guess, so it still passes (a revocation feed
    // reader keeps following); anything else fails closed.
    if (!(err instanceof RateLimitUnavailableError)) throw err
    const known = await clients.authenticate(presented.clientId, presented.secret, { cachedOnly: true })
    if (known !== null) return { kind: 'confidential', client: known }
    throw err
  }
  if (wait !== null) {
    // Throttled: no argon2 for this id from this address. A secret that verified
    // moments ago still passes, so a resource server keeps working while someone
    // behind the same address (a shared proxy or NAT) guesses its id.
    const known = await clients.authenticate(presented.clientId, presented.secret, { cachedOnly: true })
    if (known !== null) return { kind: 'confidential', client: known }
    throw new OAuthError('too_many_requests', 'too many failed client authentications, try again later', false, wait)
  }
  const client = await clients.authenticate(presented.clientId, presented.secret, { beforeVerify })
  if (client === null) {
    await throttle?.failure(presented.clientId, presented.from)
    throw new OAuthError('invalid_client', 'client authentication failed', basic)
  }
  await throttle?.success(presented.clientId, presented.from)
  return { kind: 'confidential', client }
}

export function callerGrants (caller: Caller): GrantType[] {
  return caller.client === null ? [...DEFAULT_PUBLIC_GRANTS] : caller.client.grants
}

/** The profile (audience, scope, lifetimes) the caller's tokens get. */
export function callerProfile (clients: ClientService, caller: Caller, scope?: string[]): ClientProfile {
  return caller.client === null ? clients.defaultProfile : clients.profile(caller.client, scope)
}

/** The caller's client_id (`default` for the public client). */
export function callerId (caller: Caller): string {
  return caller.client === null ? DEFAULT_CLIENT_ID : caller.client.clientId
}

/** Requested scopes, checked against what the client may have; undefined → everything it may have. */
export function grantedScopes (caller: Caller, requested: string | undefined): string[] {
  const allowed = caller.client === null ? [] : caller.client.scopes
  if (requested === undefined) return [...allowed]
  const parsed = parseScope(requested)
  if (parsed === null) throw new OAuthError('invalid_scope', 'the scope parameter is malformed')
  const refused = parsed.filter((s) => !allowed.includes(s))
  if (refused.length > 0) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${refused.join(' ')}`)
  return parsed
}
