// Embedded in-memory store: the default when MONGODB_URL is unset, and what most
// tests run on. Single-process only; nothing survives a restart. Records are
// copied in and out so callers can never mutate stored state by reference.
import { randomUUID } from 'node:crypto'
import { AppError } from '../errors.js'
import type {
  ClientRecord, ClientStore, KeyStore, LockoutPolicy, NewClient, NewUser, RevocationRecord, RevocationStore,
  Rotation, SessionRecord, SessionStore, SigningKeyRecord, Store, UserRecord, UserStore
} from './types.js'

const copy = <T>(value: T): T => structuredClone(value)

class MemoryUsers implements UserStore {
  private readonly byId = new Map<string, UserRecord>()
  private readonly idByName = new Map<string, string>()

  async create (user: NewUser): Promise<UserRecord> {
    const username = user.username.toLowerCase()
    if (this.idByName.has(username)) throw new AppError('username_taken', 'that username is already taken')
    const record: UserRecord = {
      id: randomUUID(),
      username,
      passwordHash: user.passwordHash,
      roles: [...(user.roles ?? [])],
      disabled: false,
      createdAt: new Date(),
      failedLogins: 0,
      lockedUntil: null
    }
    this.byId.set(record.id, record)
    this.idByName.set(username, record.id)
    return copy(record)
  }

  async findByUsername (username: string): Promise<UserRecord | null> {
    const id = this.idByName.get(username.toLowerCase())
    return id === undefined ? null : this.findById(id)
  }

  async findById (id: string): Promise<UserRecord | null> {
    const user = this.byId.get(id)
    return user === undefined ? null : copy(user)
  }

  async setPasswordHash (id: string, passwordHash: string): Promise<void> {
    const user = this.byId.get(id)
    if (user !== undefined) user.passwordHash = passwordHash
  }

  async setDisabled (id: string, disabled: boolean): Promise<void> {
    const user = this.byId.get(id)
    if (user !== undefined) user.disabled = disabled
  }

  async setRoles (id: string, roles: string[]): Promise<UserRecord | null> {
    const user = this.byId.get(id)
    if (user === undefined) return null
    user.roles = [...roles]
    return copy(user)
  }

  async recordLoginFailure (id: string, policy: LockoutPolicy): Promise<Date | null> {
    const user = this.byId.get(id)
    if (user === undefined) return null
    user.failedLogins += 1
    if (user.failedLogins < policy.threshold) return null
    user.failedLogins = 0
    user.lockedUntil = new Date(policy.now.getTime() + policy.lockSeconds * 1000)
    return new Date(user.lockedUntil)
  }

  async clearLoginFailures (id: string): Promise<void> {
    const user = this.byId.get(id)
    if (user !== undefined) {
      user.failedLogins = 0
      user.lockedUntil = null
    }
  }
}

class MemorySessions implements SessionStore {
  private readonly bySid = new Map<string, SessionRecord>()

  async create (session: Omit<SessionRecord, 'revokedAt' | 'revokedReason' | 'previous'>): Promise<SessionRecord> {
    const record: SessionRecord = { ...copy(session), revokedAt: null, revokedReason: null, previous: null }
    this.bySid.set(record.sid, record)
    return copy(record)
  }

  async find (sid: string): Promise<SessionRecord | null> {
    const session = this.bySid.get(sid)
    return session === undefined ? null : copy(session)
  }

  async rotate (sid: string, expectedJti: string, rotation: Rotation): Promise<SessionRecord | null> {
    // Single-threaded: the check and the write below cannot interleave with another call.
    const session = this.bySid.get(sid)
    if (session === undefined || session.revokedAt !== null || session.currentJti !== expectedJti) return null
    session.currentJti = rotation.nextJti
    session.expiresAt = new Date(rotation.expiresAt)
    session.previous = copy(rotation.previous)
    return copy(session)
  }

  async revoke (sid: string, reason: string, now: Date): Promise<SessionRecord | null> {
    const session = this.bySid.get(sid)
    if (session === undefined) return null
    const before = copy(session)
    if (session.revokedAt === null) {
      session.revokedAt = new Date(now)
      session.revokedReason = reason
    }
    return before
  }

  async revokeAllForUser (userId: string, reason: string, now: Date, keepSid?: string): Promise<SessionRecord[]> {
    const revoked: SessionRecord[] = []
    for (const session of this.bySid.values()) {
      if (session.userId !== userId || session.revokedAt !== null || session.sid === keepSid) continue
      session.revokedAt = new Date(now)
      session.revokedReason = reason
      revoked.push(copy(session))
    }
    return revoked
  }

  async revokeAllForClient (clientId: string, reason: string, now: Date): Promise<number> {
    let count = 0
    for (const session of this.bySid.values()) {
      if (session.clientId !== clientId || session.revokedAt !== null) continue
      session.revokedAt = new Date(now)
      session.revokedReason = reason
      count += 1
    }
    return count
  }

  async listForUser (userId: string, now: Date): Promise<SessionRecord[]> {
    const live = [...this.bySid.values()].filter((s) =>
      s.userId === userId && s.revokedAt === null && s.expiresAt > now && s.absoluteExpiresAt > now)
    return live.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).map(copy)
  }

  /** Drops sessions whose refresh token can no longer be used, like MongoDB's TTL index. */
  sweep (now: Date): void {
    for (const [sid, session] of this.bySid) {
      if (session.expiresAt <= now || session.absoluteExpiresAt <= now) this.bySid.delete(sid)
    }
  }
}

class MemoryRevocations implements RevocationStore {
  private entries: RevocationRecord[] = []
  private seq = 0

  async add (entry: { kind: RevocationRecord['kind'], value: string, expiresAt: Date }): Promise<RevocationRecord> {
    const record: RevocationRecord = { seq: ++this.seq, ...copy(entry), createdAt: new Date() }
    this.entries.push(record)
    return copy(record)
  }

  async since (afterSeq: number, now: Date, limit: number): Promise<RevocationRecord[]> {
    const out: RevocationRecord[] = []
    // Entries are in seq order: start at the first one after afterSeq (followers poll
    // every few hundred ms; a scan from the start would grow with every revocation).
    let lo = 0
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.entries[mid]!.seq <= afterSeq) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.entries.length && out.length < limit; i++) {
      const entry = this.entries[i]!
      if (entry.expiresAt <= now) continue
      out.push(copy(entry))
    }
    return out
  }

  sweep (now: Date): void {
    this.entries = this.entries.filter((e) => e.expiresAt > now)
  }
}

class MemoryClients implements ClientStore {
  private readonly byId = new Map<string, ClientRecord>()

  async create (client: NewClient): Promise<ClientRecord> {
    if (this.byId.has(client.clientId)) throw new AppError('conflict', 'that client_id already exists')
    const record: ClientRecord = { ...copy(client), disabled: false, createdAt: new Date(), previousSecret: null }
    this.byId.set(record.clientId, record)
    return copy(record)
  }

  async find (clientId: string): Promise<ClientRecord | null> {
    const client = this.byId.get(clientId)
    return client === undefined ? null : copy(client)
  }

  async list (): Promise<ClientRecord[]> {
    // Map order is insertion order: oldest first.
    return [...this.byId.values()].map(copy)
  }

  async setDisabled (clientId: string, disabled: boolean): Promise<ClientRecord | null> {
    const client = this.byId.get(clientId)
    if (client === undefined) return null
    client.disabled = disabled
    return copy(client)
  }

  async setSecret (clientId: string, secretHash: string, previous: { hash: string, expiresAt: Date } | null): Promise<ClientRecord | null> {
    const client = this.byId.get(clientId)
    if (client === undefined) return null
    client.secretHash = secretHash
    client.previousSecret = previous === null ? null : copy(previous)
    return copy(client)
  }
}

class MemoryKeys implements KeyStore {
  private keys: SigningKeyRecord[] = []

  async add (key: Omit<SigningKeyRecord, 'createdAt' | 'expiresAt'>, retireExpiresAt: Date): Promise<SigningKeyRecord> {
    if (this.keys.some((k) => k.kid === key.kid)) throw new AppError('conflict', 'that kid already exists')
    const record: SigningKeyRecord = { ...copy(key), createdAt: new Date(), expiresAt: null }
    for (const other of this.keys) other.expiresAt ??= new Date(retireExpiresAt)
    this.keys.push(record)
    return copy(record)
  }

  async list (now: Date): Promise<SigningKeyRecord[]> {
    return this.keys
      .filter((k) => k.expiresAt === null || k.expiresAt > now)
      .sort((a, b) => a.activatesAt.getTime() - b.activatesAt.getTime())
      .map(copy)
  }

  sweep (now: Date): void {
    this.keys = this.keys.filter((k) => k.expiresAt === null || k.expiresAt > now)
  }
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly users = new MemoryUsers()
  readonly sessions = new MemorySessions()
  readonly revocations = new MemoryRevocations()
  readonly clients = new MemoryClients()
  readonly keys = new MemoryKeys()
  private sweeper: NodeJS.Timeout | undefined

  async init (): Promise<void> {
    if (this.sweeper !== undefined) return
    // Plays the part of MongoDB's TTL indexes so long-running dev servers stay bounded.
    this.sweeper = setInterval(() => {
      const now = new Date()
      this.sessions.sweep(now)
      this.revocations.sweep(now)
      this.keys.sweep(now)
    }, 60_000)
    this.sweeper.unref()
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
  }
}
