// Token introspection (RFC 7662): what an authenticated client may learn about
// a token. Access tokens go through verifyLiveAccess (the same check as the
// hot path); a refresh token is active only while it is its session's current
// one and the session is live.
import { isSessionLive } from '../auth/session-liveness.js'
import { DEFAULT_CLIENT_ID } from '../clients/clients.js'
import type { RevocationList } from '../revocation/revocation-list.js'
import type { ClientRecord, Store } from '../store/types.js'
import { verifyLiveAccess, type AccessClaims, type RefreshClaims, type TokenService } from '../tokens/tokens.js'

/**
 * The client scope that lets a client introspect every token. Without it a
 * client introspects only tokens issued to it; others answer `{active: false}`.
 */
export const READ_ALL_TOKENS_SCOPE = 'tokens:introspect'

export type ActiveAccess = AccessClaims & { active: true, token_type: 'Bearer' | 'DPoP' }
export type ActiveRefresh = RefreshClaims & { active: true, token_type: 'refresh_token', client_id: string }
/** RFC 7662 §2.2: claims of an active token; an inactive one is exactly `{active: false}`. */
export type Introspection = { active: false } | ActiveAccess | ActiveRefresh

export interface IntrospectionDeps {
  tokens: TokenService
  revocations: RevocationList
  store: Store
  now: () => number
}

export function accessInfo (deps: IntrospectionDeps, token: string): ActiveAccess | null {
  const verified = verifyLiveAccess(deps.tokens, deps.revocations, token)
  if (!verified.ok) return null
  // RFC 9449 §6.2: a bound token is a DPoP token, and its `cnf` tells the resource server which key.
  return { active: true, ...verified.claims, token_type: verified.claims.cnf !== undefined ? 'DPoP' : 'Bearer' }
}

export async function refreshInfo (deps: IntrospectionDeps, token: string): Promise<ActiveRefresh | null> {
  const verified = deps.tokens.verifyRefresh(token)
  if (!verified.ok) return null
  const claims = verified.claims
  const session = await deps.store.sessions.find(claims.sid)
  if (session === null || session.currentJti !== claims.jti || !isSessionLive(session, deps.now(), deps.revocations)) {
    return null
  }
  // The client's revocation entry lasts an access-token lifetime; a session can
  // outlive it, so the stored client decides (as it does on refresh).
  if (session.clientId !== DEFAULT_CLIENT_ID) {
    const client = await deps.store.clients.find(session.clientId)
    if (client === null || client.disabled) return null
  }
  return { active: true, ...claims, client_id: session.clientId, token_type: 'refresh_token' }
}

/**
 * What `caller` may learn about a token: its own tokens, or every token with
 * READ_ALL_TOKENS_SCOPE. The hint only changes the order of the look-ups.
 */
export async function introspect (
  deps: IntrospectionDeps, caller: ClientRecord, token: string, hint: string | undefined
): Promise<Introspection> {
  const found = hint === 'refresh_token'
    ? (await refreshInfo(deps, token)) ?? accessInfo(deps, token)
    : accessInfo(deps, token) ?? (await refreshInfo(deps, token))
  if (found === null) return { active: false }
  // Another client's token looks exactly like an unknown one (RFC 7662 §2.2 allows refusing).
  return caller.scopes.includes(READ_ALL_TOKENS_SCOPE) || found.client_id === caller.clientId ? found : { active: false }
}
