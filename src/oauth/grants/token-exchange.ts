// The RFC 8693 token exchange grant: a service (the calling, authenticated
// client) that holds a user's access token gets a token for another audience
// on the user's behalf. The new token keeps the user's `sub` and `sid` (so the
// user's logout ends it too), names the caller in `act` (nested when a
// delegated token is exchanged again), is never wider than the subject token
// in scope, lifetime or audience choice, and comes without a refresh token.
import type { ClientService } from '../../clients/clients.js'
import { parseScope } from '../../clients/clients.js'
import type { ClientRecord, Store } from '../../store/types.js'
import { isActor, verifyLiveAccess, type Actor, type RevocationView, type TokenService } from '../../tokens/tokens.js'
import { OAuthError } from '../errors.js'
import type { Grant } from './grant.js'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
/** RFC 8693 §3: the only token type this service takes and issues here. */
export const ACCESS_TOKEN_TYPE_URN = 'urn:ietf:params:oauth:token-type:access_token'

export interface TokenExchangeRequest {
  subject_token?: string | undefined
  subject_token_type?: string | undefined
  audience?: string | undefined
  scope?: string | undefined
  requested_token_type?: string | undefined
  actor_token?: string | undefined
  actor_token_type?: string | undefined
  resource?: string | undefined
}

/** RFC 8693 §2.2.1 response. */
export interface ExchangedToken {
  access_token: string
  issued_token_type: typeof ACCESS_TOKEN_TYPE_URN
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
}

export interface TokenExchangeDeps {
  tokens: TokenService
  revocations: RevocationView
  store: Store
  clients: ClientService
  now: () => number
}

/** The grant as the token endpoint sees it: confidential clients only, since the caller becomes the actor. */
export const tokenExchangeGrant: Grant = {
  grantType: TOKEN_EXCHANGE_GRANT,
  allowPublic: false,
  async handle (request, caller, deps, _from, jkt) {
    if (caller.kind !== 'confidential') throw new OAuthError('unauthorized_client', 'a public client cannot exchange tokens')
    return await exchangeToken(deps, caller.client, request, jkt)
  }
}

const invalidSubject = (): OAuthError => new OAuthError('invalid_grant', 'the subject token is invalid, expired or revoked')

/**
 * `jkt`: the verified DPoP key of the request. A DPoP-bound subject token is
 * exchanged only by the holder of its key (a proof from that key), so a
 * stolen bound token cannot be laundered into an unbound one; the new token is
 * bound to the request's key whenever there is one.
 */
export async function exchangeToken (
  deps: TokenExchangeDeps, caller: ClientRecord, request: TokenExchangeRequest, jkt?: string
): Promise<ExchangedToken> {
  if (request.subject_token === undefined || request.subject_token_type === undefined) {
    throw new OAuthError('invalid_request', 'subject_token and subject_token_type are required')
  }
  if (request.subject_token_type !== ACCESS_TOKEN_TYPE_URN) {
    throw new OAuthError('invalid_request', `subject_token_type must be ${ACCESS_TOKEN_TYPE_URN}`)
  }
  if (request.requested_token_type !== undefined && request.requested_token_type !== ACCESS_TOKEN_TYPE_URN) {
    throw new OAuthError('invalid_request', `requested_token_type must be ${ACCESS_TOKEN_TYPE_URN}`)
  }
  // The authenticated client is the actor; a separate actor token would let it name someone else.
  if (request.actor_token !== undefined || request.actor_token_type !== undefined) {
    throw new OAuthError('invalid_request', 'actor_token is not supported: the authenticated client is the actor')
  }
  if (request.resource !== undefined) {
    throw new OAuthError('invalid_target', 'resource is not supported: name the target service with audience')
  }

  const verified = verifyLiveAccess(deps.tokens, deps.revocations, request.subject_token)
  if (!verified.ok) throw invalidSubject()
  const subject = verified.claims
  if (subject.cnf !== undefined && subject.cnf.jkt !== jkt) {
    throw new OAuthError('invalid_grant', 'the subject token is DPoP-bound: exchange it with a DPoP proof from its key')
  }
  // A service token has no user and no session that a logout could end.
  if (subject.sid === undefined) throw new OAuthError('invalid_grant', 'the subject token must be a user\'s access token')

  const profile = deps.clients.profile(caller)
  const defaultAudience = deps.clients.defaultProfile.audience as string
  let audience: string | string[] = profile.audience
  if (request.audience !== undefined) {
    if (!caller.audiences.includes(request.audience)) {
      throw new OAuthError('invalid_target', 'audience is not one of this client\'s audiences')
    }
    // JWT_AUDIENCE stays in every token so that this service's own endpoints accept it.
    audience = request.audience === defaultAudience ? defaultAudience : [defaultAudience, request.audience]
  }

  // Never wider than the subject token, and never beyond what the caller may be granted.
  const held = subject.scope.split(' ').filter((s) => s !== '' && caller.scopes.includes(s))
  let scopes = held
  if (request.scope !== undefined) {
    const parsed = parseScope(request.scope)
    if (parsed === null) throw new OAuthError('invalid_scope', 'the scope parameter is malformed')
    const refused = parsed.filter((s) => !held.includes(s))
    if (refused.length > 0) {
      throw new OAuthError('invalid_scope', `scope not held by the subject token or not allowed for this client: ${refused.join(' ').slice(0, 256)}`)
    }
    scopes = parsed
  }

  const act: Actor = subject.act !== undefined ? { sub: caller.clientId, act: subject.act } : { sub: caller.clientId }
  if (!isActor(act)) throw new OAuthError('invalid_request', 'the delegation chain is too long')

  // The store is the truth for the session and the user; the revocation list may lag by a poll.
  const session = await deps.store.sessions.find(subject.sid)
  if (session === null || session.revokedAt !== null || session.userId !== subject.sub) throw invalidSubject()
  const user = await deps.store.users.findById(subject.sub)
  if (user === null || user.disabled) throw invalidSubject()

  const now = deps.now()
  const ttl = Math.min(profile.accessTtl, subject.exp - now)
  if (ttl <= 0) throw invalidSubject()
  const issued = deps.tokens.issueAccess({
    sub: subject.sub,
    sid: subject.sid,
    clientId: caller.clientId,
    audience,
    scope: scopes.join(' '),
    roles: subject.roles,
    ttl,
    act,
    ...(jkt !== undefined ? { jkt } : {})
  })
  return {
    access_token: issued.token,
    issued_token_type: ACCESS_TOKEN_TYPE_URN,
    token_type: jkt !== undefined ? 'DPoP' : 'Bearer',
    expires_in: Math.max(0, issued.claims.exp - now),
    scope: scopes.join(' ')
  }
}
