// The in-memory view of revocations that every verification consults: revoked
// access-token jtis, ended session ids, disabled client ids, users whose
// earlier tokens were all revoked and signing keys revoked in an emergency,
// each kept only until the tokens it covers have expired. The service's instances keep it in
// step with the store; resource servers keep it in step with the service's
// revocation feed. Either way a check is a few Map lookups.

import type { Actor } from './rules.js'

/**
 * jti: one access token; sid: every token of a session; client: every token of
 * a disabled client; user: every token of a user (`sub`) issued before the entry;
 * key: every token signed by a revoked signing key (value: its kid).
 */
export type RevocationKind = 'jti' | 'sid' | 'client' | 'user' | 'key'

export interface RevocationEntry {
  kind: RevocationKind
  value: string
  /** When every token this entry covers has expired. */
  expiresAt: Date
  /** When the entry was written; for a client, tokens issued after it (plus a margin) are not covered. */
  createdAt?: Date
  /** A user entry only: epoch seconds; the user's tokens with an earlier iat are covered. */
  issuedBefore?: number | null
  /** A user entry only: the session it spares (a password change keeps its own). */
  exceptSid?: string | null
}

/** One user entry: tokens issued before `cutoff` (epoch seconds) are refused, but those of `except`. */
interface UserCutoff {
  cutoff: number
  except: string | null
  exp: number
}

/**
 * A disabled client's tokens issued up to this many seconds after the disable
 * are refused too: an issuance that read the client just before the disable
 * (then spent an argon2 verification) can sign its token just after it.
 */
export const CLIENT_DISABLE_MARGIN_SECONDS = 5

/** Whether a verified access token has since been revoked (by its jti, its session, its client or an actor of its `act` chain). */
export interface RevocationView {
  isRevoked (jti: string, sid: string | undefined, clientId?: string, iat?: number, sub?: string, act?: Actor): boolean
}

export class RevocationList implements RevocationView {
  /** value → expiry in epoch seconds */
  private readonly jtis = new Map<string, number>()
  private readonly sids = new Map<string, number>()
  /** Disabled clients: every token they had is refused (the client gets no new ones). */
  private readonly clients = new Map<string, number>()
  /**
   * Per disabled client, the second of its (latest) disable plus the margin: its
   * tokens issued up to then are refused. Tokens issued after the client is enabled
   * again (iat later than that) pass, while the entry still covers the old ones.
   */
  private readonly clientCutoffs = new Map<string, number>()
  /**
   * Per user, the entries in force. Entries that spare no session are merged
   * into one (the latest cutoff refuses everything an earlier one does); each
   * that spares one is kept apart, since it refuses that session's tokens
   * only under the other entries.
   */
  private readonly users = new Map<string, UserCutoff[]>()
  /** Revoked signing keys: kid → expiry. Checked where a token's signature is verified, not per cached token. */
  private readonly keys = new Map<string, number>()
  private readonly keyListeners = new Set<(kid: string) => void>()

  apply (entry: RevocationEntry): void {
    const exp = Math.ceil(entry.expiresAt.getTime() / 1000)
    if (entry.kind === 'user') {
      this.keepUser(entry, exp)
      return
    }
    if (entry.kind === 'key') {
      const known = this.keys.has(entry.value)
      this.keep('key', entry.value, exp)
      // Once per kid: caches of verified tokens are emptied, so every token of that key is verified again.
      if (!known) for (const listener of [...this.keyListeners]) listener(entry.value)
      return
    }
    this.keep(entry.kind, entry.value, exp)
    if (entry.kind === 'client') {
      // Without its time, an entry covers every token of the client until it expires.
      const cutoff = entry.createdAt !== undefined
        ? Math.floor(entry.createdAt.getTime() / 1000) + CLIENT_DISABLE_MARGIN_SECONDS
        : exp
      const known = this.clientCutoffs.get(entry.value)
      if (known === undefined || known < cutoff) this.clientCutoffs.set(entry.value, cutoff)
    }
  }

  /** Adds one entry without its creation time; `expSeconds` in epoch seconds. A later expiry for a known value wins. */
  add (kind: RevocationKind, value: string, expSeconds: number): void {
    this.apply({ kind, value, expiresAt: new Date(expSeconds * 1000) })
  }

  private keepUser (entry: RevocationEntry, exp: number): void {
    // Tokens issued in the entry's own second are left to the session entries
    // written with it: a login just after a logout-all must work. Without its
    // time, an entry covers every token of the user until it expires.
    const cutoff = typeof entry.issuedBefore === 'number' ? entry.issuedBefore : exp
    const except = entry.exceptSid ?? null
    const known = this.users.get(entry.value) ?? []
    const same = known.find((e) => e.except === except)
    if (same === undefined) {
      known.push({ cutoff, except, exp })
      this.users.set(entry.value, known)
    } else {
      // Re-applying an entry, or a later one that spares the same: the latest cutoff and expiry win.
      same.cutoff = Math.max(same.cutoff, cutoff)
      same.exp = Math.max(same.exp, exp)
    }
  }

  private keep (kind: Exclude<RevocationKind, 'user'>, value: string, expSeconds: number): void {
    const map = kind === 'jti' ? this.jtis : kind === 'sid' ? this.sids : kind === 'key' ? this.keys : this.clients
    const known = map.get(value)
    if (known === undefined || known < expSeconds) map.set(value, expSeconds)
  }

  /**
   * `iat` of the token; without it a disabled client's or a user's entry
   * refuses every token it could cover. `sub`: the token's subject.
   */
  isRevoked (jti: string, sid: string | undefined, clientId?: string, iat?: number, sub?: string, act?: Actor): boolean {
    // An entry past its expiry covers only expired tokens, which fail before this check.
    return this.jtis.has(jti) || (sid !== undefined && this.sids.has(sid)) ||
      (clientId !== undefined && this.clients.size > 0 && this.clientRevokes(clientId, iat)) ||
      (sub !== undefined && this.users.size > 0 && this.userRevokes(sub, sid, iat)) ||
      (act !== undefined && this.clients.size > 0 && this.actorRevokes(act, iat))
  }

  /**
   * A token exchanged from a disabled client's token ends with it, however
   * many exchanges later: the client is an actor somewhere in the `act` chain
   * (RFC 8693 §4.1), and the exchanged token, issued to another client and
   * keeping the original session, names it nowhere else.
   */
  private actorRevokes (act: Actor, iat: number | undefined): boolean {
    for (let actor: Actor | undefined = act; actor !== undefined; actor = actor.act) {
      if (this.clientRevokes(actor.sub, iat)) return true
    }
    return false
  }

  private userRevokes (sub: string, sid: string | undefined, iat: number | undefined): boolean {
    const entries = this.users.get(sub)
    if (entries === undefined) return false
    for (const e of entries) {
      if ((iat === undefined || iat < e.cutoff) && (e.except === null || e.except !== sid)) return true
    }
    return false
  }

  /** Whether a token of the user issued at `iat` in session `sid` is refused by a user entry. */
  isUserRevoked (sub: string, sid: string | undefined, iat: number): boolean {
    return this.userRevokes(sub, sid, iat)
  }

  private clientRevokes (clientId: string, iat: number | undefined): boolean {
    const cutoff = this.clientCutoffs.get(clientId)
    return cutoff !== undefined && (iat === undefined || iat <= cutoff)
  }

  /** Whether a token of the client issued at `iat` is refused because the client was disabled. */
  isClientDisabled (clientId: string, iat?: number): boolean {
    return this.clientRevokes(clientId, iat)
  }

  /** Whether the signing key `kid` was revoked: every token it signed is refused. */
  isKeyRevoked (kid: string): boolean {
    return this.keys.has(kid)
  }

  /**
   * Calls `listener` (synchronously, inside apply) the first time a kid is
   * revoked, before apply returns: a verifier drops the key and its cached
   * tokens before it answers another verify. Returns the remover.
   */
  onKeyRevoked (listener: (kid: string) => void): () => void {
    this.keyListeners.add(listener)
    return () => { this.keyListeners.delete(listener) }
  }

  isSessionEnded (sid: string): boolean {
    return this.sids.has(sid)
  }

  get size (): number {
    return this.jtis.size + this.sids.size + this.clients.size + this.users.size + this.keys.size
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

  get userCount (): number {
    return this.users.size
  }

  get keyCount (): number {
    return this.keys.size
  }

  /** Forgets entries whose tokens have all expired. */
  sweep (nowSec: number): void {
    for (const map of [this.jtis, this.sids, this.clients, this.keys]) {
      for (const [value, exp] of map) if (exp <= nowSec) map.delete(value)
    }
    for (const value of this.clientCutoffs.keys()) if (!this.clients.has(value)) this.clientCutoffs.delete(value)
    for (const [user, entries] of this.users) {
      const live = entries.filter((e) => e.exp > nowSec)
      if (live.length === 0) this.users.delete(user)
      else if (live.length < entries.length) this.users.set(user, live)
    }
  }

  /** Forgets everything (a follower that resynchronises starts again from a snapshot). */
  clear (): void {
    this.jtis.clear()
    this.sids.clear()
    this.clients.clear()
    this.clientCutoffs.clear()
    this.users.clear()
    this.keys.clear()
  }
}
