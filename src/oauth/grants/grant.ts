// What a grant is: the token endpoint's request and answer, and the shape each
// file in this folder exports.
import type { AccessTokenAnswer, AuthService, ServiceToken, TokenPair } from '../../auth/auth-service.js'
import type { ClientService } from '../../clients/clients.js'
import type { RevocationList } from '../../revocation/revocation-list.js'
import type { GrantType, Store } from '../../store/types.js'
import type { TokenService } from '../../tokens/tokens.js'
import type { Caller } from '../client-auth.js'
import type { ClientThrottle } from '../client-throttle.js'
import type { ExchangedToken, TokenExchangeRequest } from './token-exchange.js'

export interface TokenRequest extends TokenExchangeRequest {
  grant_type?: string | undefined
  username?: string | undefined
  password?: string | undefined
  refresh_token?: string | undefined
  scope?: string | undefined
}

export type TokenResponse = ((TokenPair | AccessTokenAnswer | ServiceToken) & { scope: string }) | ExchangedToken

export interface GrantDeps {
  auth: AuthService
  clients: ClientService
  tokens: TokenService
  revocations: RevocationList
  store: Store
  throttle?: ClientThrottle | undefined
  /** Epoch seconds (AppOptions.now). */
  now: () => number
}

/** One grant type: its name, whether the public client may use it, and what it issues. */
export interface Grant {
  grantType: GrantType
  /** Whether the built-in public `default` client (no secret) may use it. */
  allowPublic: boolean
  /** `from`: the client IP of the request. */
  handle: (request: TokenRequest, caller: Caller, deps: GrantDeps, from: string) => Promise<TokenResponse>
}

/** The scope of an access token this service just issued (RFC 6749 §5.1 returns it). */
export function issuedScope (accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { scope?: unknown }
  return typeof payload.scope === 'string' ? payload.scope : ''
}
