// The token endpoint (RFC 6749 §3.2): authenticates the client, checks that it
// may use the requested grant, and hands the request to that grant's file in
// ./grants/. A new grant is one new file there and one line in GRANTS.
import { AppError } from '../errors.js'
import { authenticateClient, callerGrants, type PresentedClient } from './client-auth.js'
import { OAuthError, toOAuthError } from './errors.js'
import { clientCredentialsGrant } from './grants/client-credentials.js'
import type { Grant, GrantDeps, TokenRequest, TokenResponse } from './grants/grant.js'
import { passwordGrant } from './grants/password.js'
import { refreshTokenGrant } from './grants/refresh-token.js'
import { tokenExchangeGrant } from './grants/token-exchange.js'

const GRANTS: ReadonlyMap<string, Grant> = new Map(
  [passwordGrant, refreshTokenGrant, clientCredentialsGrant, tokenExchangeGrant].map((g) => [g.grantType, g])
)

export async function tokenEndpoint (request: TokenRequest, presented: PresentedClient | null, deps: GrantDeps, from: string): Promise<TokenResponse> {
  const name = request.grant_type
  if (name === undefined || name === '') throw new OAuthError('invalid_request', 'grant_type is required')
  const grant = GRANTS.get(name)
  if (grant === undefined) throw new OAuthError('unsupported_grant_type', `grant_type ${name.slice(0, 64)} is not supported`)
  const caller = await authenticateClient(deps.clients, presented, grant.allowPublic, deps.throttle)
  if (!callerGrants(caller).includes(grant.grantType)) {
    throw new OAuthError('unauthorized_client', `this client may not use the ${grant.grantType} grant`)
  }
  try {
    return await grant.handle(request, caller, deps, from)
  } catch (err) {
    throw err instanceof AppError ? toOAuthError(err) : err
  }
}
