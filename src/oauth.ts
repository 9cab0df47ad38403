// The OAuth 2.0 endpoints' logic: client authentication (RFC 6749 §2.3.1),
// the token endpoint's grants (§4.3 password, §6 refresh_token, §4.4
// client_credentials), introspection (RFC 7662) and revocation (RFC 7009).
// OAuth clients expect RFC 6749 §5.2 errors (`{error, error_description}`),
// not the service's `{error, message}`: these functions throw OAuthError and
// routes/oauth maps it. Refresh and login go through AuthService, so the
// rotation and reuse rules are exactly those of /auth.
import { AppError } from './errors.js'
import type { AccessTokenAnswer, AuthService, ClientProfile, ServiceToken, TokenPair } from './auth-service.js'
import { DEFAULT_CLIENT_ID, DEFAULT_PUBLIC_GRANTS, parseScope, type ClientService } from './clients.js'
import type { ClientThrottle } from './oauth/client-throttle.js'
import type { RevocationList } from './revocation-list.js'
import type { ClientRecord, GrantType, Store } from './store/types.js'
import { verifyLiveAccess, type AccessClaims, type TokenService } from './tokens.js'
import { exchangeToken, TOKEN_EXCHANGE_GRANT, type ExchangedToken, type TokenExchangeRequest } from './oauth/grants/token-exchange.js'

export type OAuthErrorCode =
  | 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client'
  | 'unsupported_grant_type' | 'invalid_scope' | 'invalid_target' | 'temporarily_unavailable' | 'too_many_requests' | 'server_error'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  temporarily_unavailable: 503,
  too_many_requests: 429,
  server_error: 500
}

/**
 * The client scope that lets a client introspect every token. Without it a
 * client introspects only tokens issued to it; others answer `{active: false}`.
 */
export const INTROSPECT_ALL_SCOPE = 'tokens:introspect'

/** The scope of an access token this service just issued (RFC 6749 §5.1 returns it). */
function issuedScope (accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { scope?: unknown }
  return typeof payload.scope === 'string' ? payload.scope : ''
}

export class OAuthError extends Error {
  readonly statusCode: number

  /** `basic`: the client tried HTTP Basic, so a 401 carries `WWW-Authenticate: Basic` (§5.2). */
  constructor (readonly code: OAuthErrorCode, message: string, readonly basic = false, readonly retryAfter?: number) {
    super(message)
    this.name = 'OAuthError'
    this.statusCode = STATUS[code]
  }
}

/** Maps a domain error met inside an OAuth endpoint to its OAuth form. */
export function toOAuthError (err: AppError): OAuthError {
  switch (err.code) {
    case 'invalid_grant':
    case 'invalid_credentials':
      return new OAuthError('invalid_grant', err.message)
    case 'too_many_requests':
      return new OAuthError('too_many_requests', err.message, false, err.retryAfter)
    case 'store_unavailable':
      return new OAuthError('temporarily_unavailable', err.message)
    case 'invalid_client':
      return new OAuthError('invalid_client', err.message)
    case 'invalid_request':
      return new OAuthError('invalid_request', err.message)
    default:
      return new OAuthError('invalid_request', err.message)
  }
}

export interface PresentedClient {
  clientId: string
  secret: string | undefined
  method: 'client_secret_basic' | 'client_secret_post' | 'none'
}

const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i

function formDecode (value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

/**
 * The client credentials of a request: HTTP Basic (id and secret each
 * form-urlencoded, RFC 6749 §2.3.1) or `client_id` / `client_secret` in the
 * body. Using both is invalid_request (§2.3); none gives null.
 */
export function presentedClient (
  authorization: string | undefined, body: { client_id?: string | undefined, client_secret?: string | undefined }
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
    if (body.client_id !== undefined && body.client_id !== clientId) {
      throw new OAuthError('invalid_request', 'client_id in the body differs from the authenticated client')
    }
    return { clientId, secret, method: 'client_secret_basic' }
  }
  if (body.client_id === undefined) {
    if (body.client_secret !== undefined) throw new OAuthError('invalid_request', 'client_secret without client_id')
    return null
  }
  return body.client_secret === undefined
    ? { clientId: body.client_id, secret: undefined, method: 'none' }
    : { clientId: body.client_id, secret: body.client_secret, method: 'client_secret_post' }
}

export interface TokenRequest extends TokenExchangeRequest {
  grant_type?: string | undefined
  username?: string | undefined
  password?: string | undefined
  refresh_token?: string | undefined
  scope?: string | undefined
}

export type TokenResponse = ((TokenPair | AccessTokenAnswer | ServiceToken) & { scope: string }) | ExchangedToken

/** RFC 7662 §2.2: claims of an active token; an inactive one is exactly `{active: false}`. */
export type Introspection = { active: false } | ({ active: true, token_type: string } & Record<string, unknown>)

export interface OAuthServiceDeps {
  auth: AuthService
  clients: ClientService
  tokens: TokenService
  revocations: RevocationList
  store: Store
  /** Failed client authentications per client_id; without it, none are throttled. */
  throttle?: ClientThrottle
  now?: () => number
}

/**
 * The caller: a confidential client that authenticated, or a public client named
 * by its client_id (a stored one, or null for the built-in `default` client).
 */
type Caller = { kind: 'confidential', client: ClientRecord } | { kind: 'public', client: ClientRecord | null }

export class OAuthService {
  private readonly now: () => number

  constructor (private readonly deps: OAuthServiceDeps) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
  }

  private async authenticate (presented: PresentedClient | null, allowPublic: boolean): Promise<Caller> {
    if (presented === null || (presented.clientId === DEFAULT_CLIENT_ID && presented.secret === undefined)) {
      if (allowPublic) return { kind: 'public', client: null }
      throw new OAuthError('invalid_client', 'client authentication is required', presented?.method === 'client_secret_basic')
    }
    const basic = presented.method === 'client_secret_basic'
    if (presented.secret === undefined) {
      // A client_id alone identifies only a public client; a confidential one must prove it is itself.
      const client = allowPublic ? await this.deps.clients.findPublic(presented.clientId) : null
      if (client !== null) return { kind: 'public', client }
      throw new OAuthError('invalid_client', 'this client must authenticate with its secret', basic)
    }
    const { throttle } = this.deps
    const wait = throttle?.retryAfter(presented.clientId) ?? null
    if (wait !== null) {
      // Throttled: no argon2 for this id. A secret that verified moments ago still
      // passes, so a resource server keeps working while someone guesses its id.
      const known = await this.deps.clients.authenticate(presented.clientId, presented.secret, { cachedOnly: true })
      if (known !== null) return { kind: 'confidential', client: known }
      throw new OAuthError('too_many_requests', 'too many failed client authentications, try again later', false, wait)
    }
    const client = await this.deps.clients.authenticate(presented.clientId, presented.secret)
    if (client === null) {
      throttle?.failure(presented.clientId)
      throw new OAuthError('invalid_client', 'client authentication failed', basic)
    }
    throttle?.success(presented.clientId)
    return { kind: 'confidential', client }
  }

  private grants (caller: Caller): GrantType[] {
    return caller.client === null ? [...DEFAULT_PUBLIC_GRANTS] : caller.client.grants
  }

  private profile (caller: Caller): ClientProfile {
    return caller.client === null ? this.deps.clients.defaultProfile : this.deps.clients.profile(caller.client)
  }

  /** Requested scopes, checked against what the client may have; undefined → everything it may have. */
  private scopes (caller: Caller, requested: string | undefined): string[] {
    const allowed = caller.client === null ? [] : caller.client.scopes
    if (requested === undefined) return [...allowed]
    const parsed = parseScope(requested)
    if (parsed === null) throw new OAuthError('invalid_scope', 'the scope parameter is malformed')
    const refused = parsed.filter((s) => !allowed.includes(s))
    if (refused.length > 0) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${refused.join(' ')}`)
    return parsed
  }

  async token (request: TokenRequest, presented: PresentedClient | null): Promise<TokenResponse> {
    const grant = request.grant_type
    if (grant === undefined || grant === '') throw new OAuthError('invalid_request', 'grant_type is required')
    if (grant !== 'password' && grant !== 'refresh_token' && grant !== 'client_credentials' && grant !== TOKEN_EXCHANGE_GRANT) {
      throw new OAuthError('unsupported_grant_type', `grant_type ${grant.slice(0, 64)} is not supported`)
    }
    const caller = await this.authenticate(presented, grant !== 'client_credentials' && grant !== TOKEN_EXCHANGE_GRANT)
    if (!this.grants(caller).includes(grant)) {
      throw new OAuthError('unauthorized_client', `this client may not use the ${grant} grant`)
    }
    const clientId = caller.client === null ? DEFAULT_CLIENT_ID : caller.client.clientId
    try {
      switch (grant) {
        case 'password': {
          if (request.username === undefined || request.password === undefined) {
            throw new OAuthError('invalid_request', 'username and password are required')
          }
          this.scopes(caller, request.scope)
          const pair = await this.deps.auth.loginAs(this.profile(caller), request.username, request.password)
          return { ...pair, scope: issuedScope(pair.access_token) }
        }
        case 'refresh_token': {
          if (request.refresh_token === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')
          this.scopes(caller, request.scope)
          const pair = await this.deps.auth.refresh(request.refresh_token, clientId)
          return { ...pair, scope: issuedScope(pair.access_token) }
        }
        case 'client_credentials': {
          if (caller.kind !== 'confidential') throw new OAuthError('unauthorized_client', 'a public client cannot use client_credentials')
          const scope = this.scopes(caller, request.scope)
          return this.deps.auth.issueServiceToken(this.deps.clients.profile(caller.client, scope))
        }
        case TOKEN_EXCHANGE_GRANT: {
          if (caller.kind !== 'confidential') throw new OAuthError('unauthorized_client', 'a public client cannot exchange tokens')
          return await exchangeToken({ ...this.deps, now: this.now }, caller.client, request)
        }
      }
    } catch (err) {
      throw err instanceof AppError ? toOAuthError(err) : err
    }
  }

  async introspect (token: string | undefined, hint: string | undefined, presented: PresentedClient | null): Promise<Introspection> {
    const caller = await this.authenticate(presented, false)
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const order = hint === 'refresh_token' ? [this.refreshInfo, this.accessInfo] : [this.accessInfo, this.refreshInfo]
    // authenticate(…, false) only ever gives a confidential client.
    const self = caller.client?.clientId
    const seesAll = caller.client?.scopes.includes(INTROSPECT_ALL_SCOPE) === true
    try {
      for (const look of order) {
        const found = await look.call(this, token)
        if (found === null) continue
        // Another client's token looks exactly like an unknown one (RFC 7662 §2.2 allows refusing).
        return seesAll || found.client_id === self ? found : { active: false }
      }
    } catch (err) {
      throw err instanceof AppError ? toOAuthError(err) : err
    }
    return { active: false }
  }

  async revoke (token: string | undefined, hint: string | undefined, presented: PresentedClient | null): Promise<void> {
    const caller = await this.authenticate(presented, false)
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    if (caller.kind !== 'confidential') return
    try {
      // RFC 7009 §2.1: a client revokes only tokens issued to it; anything else
      // (unknown, expired, another client's) is answered 200 without effect.
      const owner = (await this.accessInfo(token))?.client_id ?? (await this.refreshInfo(token))?.client_id
      if (owner !== caller.client.clientId) return
      await this.deps.auth.revoke(token, hint === 'refresh_token' ? 'refresh_token' : hint === 'access_token' ? 'access_token' : undefined)
    } catch (err) {
      throw err instanceof AppError ? toOAuthError(err) : err
    }
  }

  private async accessInfo (token: string): Promise<(Introspection & { client_id?: unknown }) | null> {
    const verified = verifyLiveAccess(this.deps.tokens, this.deps.revocations, token)
    if (!verified.ok) return null
    const claims: AccessClaims = verified.claims
    return { active: true, ...claims, token_type: 'Bearer' }
  }

  private async refreshInfo (token: string): Promise<(Introspection & { client_id?: unknown }) | null> {
    const verified = this.deps.tokens.verifyRefresh(token)
    if (!verified.ok) return null
    const claims = verified.claims
    const session = await this.deps.store.sessions.find(claims.sid)
    const nowMs = this.now() * 1000
    if (session === null || session.revokedAt !== null || session.currentJti !== claims.jti ||
      session.expiresAt.getTime() <= nowMs || session.absoluteExpiresAt.getTime() <= nowMs ||
      this.deps.revocations.isSessionEnded(claims.sid) || this.deps.revocations.isClientDisabled(session.clientId, claims.iat)) {
      return null
    }
    // The client's revocation entry lasts an access-token lifetime; a session can
    // outlive it, so the stored client decides (as it does on refresh).
    if (session.clientId !== DEFAULT_CLIENT_ID) {
      const client = await this.deps.store.clients.find(session.clientId)
      if (client === null || client.disabled) return null
    }
    return { active: true, ...claims, client_id: session.clientId, token_type: 'refresh_token' }
  }
}
