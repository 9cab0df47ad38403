// The client_credentials grant (RFC 6749 §4.4): a confidential client gets an
// access token for itself (sub = client_id), with no session and no refresh token.
import { grantedScopes } from '../client-auth.js'
import { OAuthError } from '../errors.js'
import type { Grant } from './grant.js'

export const clientCredentialsGrant: Grant = {
  grantType: 'client_credentials',
  allowPublic: false,
  async handle (request, caller, { auth, clients }, _from, jkt) {
    if (caller.kind !== 'confidential') throw new OAuthError('unauthorized_client', 'a public client cannot use client_credentials')
    const scope = grantedScopes(caller, request.scope)
    return auth.issueServiceToken(clients.profile(caller.client, scope), jkt)
  }
}
