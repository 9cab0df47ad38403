// The refresh_token grant (RFC 6749 §6): rotation through AuthService, with
// the same reuse detection as /auth/refresh; the session must be the caller's.
import { callerId, grantedScopes } from '../client-auth.js'
import { OAuthError } from '../errors.js'
import { issuedScope, type Grant } from './grant.js'

export const refreshTokenGrant: Grant = {
  grantType: 'refresh_token',
  allowPublic: true,
  async handle (request, caller, { auth }, _from, jkt) {
    if (request.refresh_token === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')
    // Without `scope`, everything the client may have, as at the password grant:
    // the session does not remember a narrower scope asked for before.
    const scope = request.scope === undefined ? undefined : grantedScopes(caller, request.scope)
    const pair = await auth.refresh(request.refresh_token, callerId(caller), scope, jkt)
    return { ...pair, scope: issuedScope(pair.access_token) }
  }
}
