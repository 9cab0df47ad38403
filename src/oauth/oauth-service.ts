// The OAuth 2.0 endpoints' logic behind routes/oauth (`fastify.oauth`): the
// token endpoint (./token-endpoint.ts and one file per grant in ./grants/),
// introspection (RFC 7662) and revocation (RFC 7009). Errors are OAuthError
// (./errors.ts); plugins/error-handler.ts writes them as `{error,
// error_description}`. Refresh and login go through AuthService, so the
// rotation and reuse rules are exactly those of /auth.
import { AppError } from '../errors.js'
import type { AuthService } from '../auth/auth-service.js'
import type { ClientService } from '../clients/clients.js'
import type { RevocationList } from '../revocation/revocation-list.js'
import type { Store } from '../store/types.js'
import type { TokenService } from '../tokens/tokens.js'
import { authenticateClient, type PresentedClient } from './client-auth.js'
import type { ClientThrottle } from './client-throttle.js'
import { OAuthError, toOAuthError } from './errors.js'
import type { TokenRequest, TokenResponse } from './grants/grant.js'
import { introspect, type Introspection, type IntrospectionDeps } from './introspection.js'
import { revokeForClient } from './revocation.js'
import { tokenEndpoint } from './token-endpoint.js'

export interface OAuthServiceDeps {
  auth: AuthService
  clients: ClientService
  tokens: TokenService
  revocations: RevocationList
  store: Store
  /** Failed client authentications per client_id and address; without it, none are throttled. */
  throttle?: ClientThrottle
  now?: () => number
}

export class OAuthService {
  private readonly lookups: IntrospectionDeps & OAuthServiceDeps & { now: () => number }

  constructor (private readonly deps: OAuthServiceDeps) {
    this.lookups = { ...deps, now: deps.now ?? (() => Math.floor(Date.now() / 1000)) }
  }

  /** `from`: the client IP of the request (the password grant's lockout counts per address). */
  token (request: TokenRequest, presented: PresentedClient | null, from: string): Promise<TokenResponse> {
    return tokenEndpoint(request, presented, this.lookups, from)
  }

  async introspect (token: string | undefined, hint: string | undefined, presented: PresentedClient | null): Promise<Introspection> {
    const caller = await authenticateClient(this.deps.clients, presented, false, this.deps.throttle)
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    // authenticateClient(…, false) only ever gives a confidential client.
    if (caller.kind !== 'confidential') return { active: false }
    return oauthErrors(introspect(this.lookups, caller.client, token, hint))
  }

  async revoke (token: string | undefined, hint: string | undefined, presented: PresentedClient | null): Promise<void> {
    const caller = await authenticateClient(this.deps.clients, presented, false, this.deps.throttle)
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    if (caller.kind !== 'confidential') return
    await oauthErrors(revokeForClient({ ...this.lookups, auth: this.deps.auth }, caller.client.clientId, token, hint))
  }
}

/** A domain error met inside an OAuth endpoint leaves in its OAuth form. */
async function oauthErrors<T> (work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    throw err instanceof AppError ? toOAuthError(err) : err
  }
}
