// The one answer to "is this session live", shared by the refresh grant
// (AuthService) and introspection (OAuth), so the two cannot disagree.
import type { RevocationList } from '../revocation/revocation-list.js'
import type { SessionRecord } from '../store/types.js'

/**
 * Live: not ended in the store nor by a revocation (which may have reached
 * this instance before the store write is visible), not past its idle or its
 * absolute expiry, and its client not disabled. Whether a given refresh token
 * is the session's current one is a separate question.
 */
export function isSessionLive (session: SessionRecord, nowSec: number, revocations: RevocationList): boolean {
  const nowMs = nowSec * 1000
  return session.revokedAt === null &&
    session.expiresAt.getTime() > nowMs &&
    session.absoluteExpiresAt.getTime() > nowMs &&
    !revocations.isSessionEnded(session.sid) &&
    // A client enabled again after a disable: only its sessions started since then are live.
    !revocations.isClientDisabled(session.clientId, Math.floor(session.createdAt.getTime() / 1000))
}
