// Token revocation (RFC 7009): a client revokes an access token (its jti) or a
// refresh token (its whole session), and only tokens issued to it.
import type { AuthService } from '../auth/auth-service.js'
import { accessInfo, refreshInfo, type IntrospectionDeps } from './introspection.js'

export async function revokeForClient (
  deps: IntrospectionDeps & { auth: AuthService }, clientId: string, token: string, hint: string | undefined
): Promise<void> {
  // RFC 7009 §2.1: anything else (unknown, expired, another client's) is
  // answered 200 without effect.
  const owner = accessInfo(deps, token)?.client_id ?? (await refreshInfo(deps, token))?.client_id
  if (owner !== clientId) return
  // The owner authenticated: a DPoP-bound token needs no proof here.
  await deps.auth.revoke(token, hint === 'refresh_token' ? 'refresh_token' : hint === 'access_token' ? 'access_token' : undefined, undefined, true)
}
