// The password grant (RFC 6749 §4.3): a login through AuthService, so lockout
// and sessions follow the same rules as /auth/login.
import { callerProfile, grantedScopes } from '../client-auth.js'
import { OAuthError } from '../errors.js'
import { issuedScope, type Grant } from './grant.js'

export const passwordGrant: Grant = {
  grantType: 'password',
  allowPublic: true,
  async handle (request, caller, { auth, clients }, from) {
    if (request.username === undefined || request.password === undefined) {
      throw new OAuthError('invalid_request', 'username and password are required')
    }
    const scope = grantedScopes(caller, request.scope)
    const pair = await auth.loginAs(callerProfile(clients, caller, scope), request.username, request.password, from)
    return { ...pair, scope: issuedScope(pair.access_token) }
  }
}
