// The in-memory view of revocations that every verification consults: revoked
// access-token jtis, ended session ids and disabled client ids, each kept only
// until the tokens it covers have expired. The service's instances keep it in
// step with the store; resource servers keep it in step with the service's
// revocation feed. Either way a check is a few Map lookups.

/** jti: one access token; sid: every token of a session; client: every token of a disabled client. */
export type RevocationKind = 'jti' | 'sid' | 'client'

export interface RevocationEntry {
  kind: RevocationKind
  value: string
  /** When every token this entry covers has expired. */
  expiresAt: Date
}

/** Whether a verified access token has since been revoked (by its jti, its session or its client). */
export interface RevocationView {
  isRevoked (jti: string, sid: string | undefined, clientId?: string): boolean
}

export class RevocationList implements RevocationView {
  /** value → expiry in epoch seconds */
  private readonly jtis = new Map<string, number>()
  private readonly sids = new Map<string, number>()
  /** Disabled clients: every token they had is refused (the client gets no new ones). */
  private readonly clients = new Map<string, number>()

  apply (entry: RevocationEntry): void {
    this.add(entry.kind, entry.value, Math.ceil(entry.expiresAt.getTime() / 1000))
  }

  /** Adds one entry; `expSeconds` in epoch seconds. A later expiry for a known value wins. */
  add (kind: RevocationKind, value: string, expSeconds: number): void {
    const map = kind === 'jti' ? this.jtis : kind === 'sid' ? this.sids : this.clients
    const known = map.get(value)
    if (known === undefined || known < expSeconds) map.set(value, expSeconds)
  }

  isRevoked (jti: string, sid: string | undefined, clientId?: string): boolean {
    // An entry past its expiry covers only expired tokens, which fail before this check.
    return this.jtis.has(jti) || (sid !== undefined && this.sids.has(sid)) ||
      (clientId !== undefined && this.clients.size > 0 && this.clients.has(clientId))
  }

  isClientDisabled (clientId: string): boolean {
    return this.clients.has(clientId)
  }

  isSessionEnded (sid: string): boolean {
    return this.sids.has(sid)
  }

  get size (): number {
    return this.jtis.size + this.sids.size + this.clients.size
  }

  get jtiCount (): number {
    return this.jtis.size
  }

  get sidCount (): number {
    return this.sids.size
  }

  get clientCount (): number {
    return this.clients.size
  }

  /** Forgets entries whose tokens have all expired. */
  sweep (nowSec: number): void {
    for (const map of [this.jtis, this.sids, this.clients]) {
      for (const [value, exp] of map) if (exp <= nowSec) map.delete(value)
    }
  }

  /** Forgets everything (a follower that resynchronises starts again from a snapshot). */
  clear (): void {
    this.jtis.clear()
    this.sids.clear()
    this.clients.clear()
  }
}
