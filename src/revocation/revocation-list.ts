// The in-memory view of revocations that validate consults on every request:
// revoked access-token jtis, ended session ids and disabled client ids, each kept only until the
// tokens it covers have expired. The store is the source of truth; this view
// follows it by sequence number (see RevocationFollower).
import type { RevocationRecord, RevocationStore } from '../store/types.js'

/**
 * A disabled client's tokens issued up to this many seconds after the disable
 * are refused too: an issuance that read the client just before the disable
 * (then spent an argon2 verification) can sign its token just after it.
 */
export const CLIENT_DISABLE_MARGIN_SECONDS = 5

export class RevocationList {
  /** value → expiry in epoch seconds */
  private readonly jtis = new Map<string, number>()
  private readonly sids = new Map<string, number>()
  /** Disabled clients: every token they had is refused (the client gets no new ones). */
  private readonly clients = new Map<string, number>()
  /**
   * Per disabled client, the second of its (latest) disable plus the margin: its
   * tokens issued up to then are refused. Tokens issued after the client is enabled again
   * (iat later than that) pass, while the entry still covers the old ones.
   */
  private readonly clientCutoffs = new Map<string, number>()

  apply (record: Pick<RevocationRecord, 'kind' | 'value' | 'expiresAt'> & { createdAt?: Date }): void {
    const map = record.kind === 'jti' ? this.jtis : record.kind === 'sid' ? this.sids : this.clients
    const exp = Math.ceil(record.expiresAt.getTime() / 1000)
    const known = map.get(record.value)
    if (known === undefined || known < exp) map.set(record.value, exp)
    if (record.kind === 'client') {
      // Without its time, an entry covers every token of the client until it expires.
      const cutoff = record.createdAt !== undefined
        ? Math.floor(record.createdAt.getTime() / 1000) + CLIENT_DISABLE_MARGIN_SECONDS
        : exp
      const knownCutoff = this.clientCutoffs.get(record.value)
      if (knownCutoff === undefined || knownCutoff < cutoff) this.clientCutoffs.set(record.value, cutoff)
    }
  }

  /** `iat` of the token; without it a disabled client's entry refuses every token of that client. */
  isRevoked (jti: string, sid: string | undefined, clientId?: string, iat?: number): boolean {
    // An entry past its expiry covers only expired tokens, which fail before this check.
    return this.jtis.has(jti) || (sid !== undefined && this.sids.has(sid)) ||
      (clientId !== undefined && this.clients.size > 0 && this.clientRevokes(clientId, iat))
  }

  private clientRevokes (clientId: string, iat: number | undefined): boolean {
    const cutoff = this.clientCutoffs.get(clientId)
    return cutoff !== undefined && (iat === undefined || iat <= cutoff)
  }

  /** Whether a token of the client issued at `iat` is refused because the client was disabled. */
  isClientDisabled (clientId: string, iat?: number): boolean {
    return this.clientRevokes(clientId, iat)
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
    for (const value of this.clientCutoffs.keys()) if (!this.clients.has(value)) this.clientCutoffs.delete(value)
  }
}

/**
 * Entries re-read behind the last sequence seen on every poll: on MongoDB a
 * concurrent writer's lower sequence number can become visible after a higher
 * one. Re-applying an entry is idempotent.
 */
export const SEQUENCE_OVERLAP = 256

/** How often the follower forgets expired entries. */
export const SWEEP_INTERVAL_MS = 30_000

export interface FollowerOptions {
  intervalMs: number
  /** Minimum time between sweeps of expired entries (default SWEEP_INTERVAL_MS). */
  sweepIntervalMs?: number
  batchSize?: number
  now?: () => Date
  /** Called on the first failure of a streak, not on every poll. */
  onError?: (err: unknown) => void
  /** Called when a sync succeeds after a failure. */
  onRecover?: () => void
}

/**
 * Polls the store for revocations after the last sequence seen and applies them.
 * While the store is unreachable the list keeps its last state; `lagSeconds`
 * tells how stale it is.
 */
export class RevocationFollower {
  private lastSeq = 0
  private lastSyncAt: Date
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private failing = false
  private lastSweepAt = 0
  private readonly now: () => Date

  constructor (
    private readonly list: RevocationList,
    private readonly store: RevocationStore,
    private readonly options: FollowerOptions
  ) {
    this.now = options.now ?? (() => new Date())
    this.lastSyncAt = this.now()
  }

  get lagSeconds (): number {
    return Math.max(0, (this.now().getTime() - this.lastSyncAt.getTime()) / 1000)
  }

  get sequence (): number {
    return this.lastSeq
  }

  /** Records a revocation this instance wrote itself, so it takes effect at once. */
  applyLocal (record: RevocationRecord): void {
    this.list.apply(record)
  }

  /** One sync round: reads every new entry in batches. Throws when the store fails. */
  async syncOnce (): Promise<void> {
    const batch = this.options.batchSize ?? 1000
    let cursor = this.lastSeq
    for (;;) {
      const now = this.now()
      const records = await this.store.since(Math.max(0, cursor - SEQUENCE_OVERLAP), now, batch)
      for (const record of records) {
        this.list.apply(record)
        if (record.seq > this.lastSeq) this.lastSeq = record.seq
      }
      if (records.length < batch || this.lastSeq === cursor) break
      cursor = this.lastSeq
    }
    this.lastSyncAt = this.now()
    // Sweeping walks every entry; expired entries are harmless (they cover only
    // tokens that fail their exp check first), so it runs now and then, not on every poll.
    const nowMs = this.lastSyncAt.getTime()
    if (nowMs - this.lastSweepAt >= (this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS)) {
      this.lastSweepAt = nowMs
      this.list.sweep(Math.floor(nowMs / 1000))
    }
  }

  /** One round that never throws: failures are reported once per streak. */
  async tick (): Promise<void> {
    try {
      await this.syncOnce()
      if (this.failing) this.options.onRecover?.()
      this.failing = false
    } catch (err) {
      if (!this.failing) this.options.onError?.(err)
      this.failing = true
    }
  }

  start (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => {
      if (this.running !== undefined) return
      this.running = this.tick().finally(() => { this.running = undefined })
    }, this.options.intervalMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }
}
