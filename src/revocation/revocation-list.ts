// How each instance keeps its in-memory view of revocations (RevocationList,
// shared with resource servers through @token-orchestrator/verifier: revoked
// jtis, ended sessions and disabled clients, each kept until the tokens it
// covers have expired) in step with the store, the source of truth: by polling
// the revocation log by sequence number (RevocationFollower).
import { CLIENT_DISABLE_MARGIN_SECONDS, RevocationList } from '@token-orchestrator/verifier/revocation-list'
import type { RevocationRecord, RevocationStore } from '../store/types.js'
import { Ticker } from '../ticker.js'

export { CLIENT_DISABLE_MARGIN_SECONDS, RevocationList }

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
  private readonly ticker: Ticker
  private lastSweepAt = 0
  private readonly now: () => Date
  private readonly listeners = new Set<() => void>()

  constructor (
    private readonly list: RevocationList,
    private readonly store: RevocationStore,
    private readonly options: FollowerOptions
  ) {
    this.now = options.now ?? (() => new Date())
    this.lastSyncAt = this.now()
    this.ticker = new Ticker(async () => { await this.syncOnce() }, options)
  }

  get lagSeconds (): number {
    return Math.max(0, (this.now().getTime() - this.lastSyncAt.getTime()) / 1000)
  }

  get sequence (): number {
    return this.lastSeq
  }

  /**
   * Calls `listener` each time new revocations reach this instance (a sync that
   * moved the sequence forward, or a revocation written here). The revocation
   * feed's long-polls wait on it instead of polling the store themselves.
   * Returns the function that removes the listener.
   */
  onChange (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private notify (): void {
    for (const listener of [...this.listeners]) listener()
  }

  /** Records a revocation this instance wrote itself, so it takes effect at once. */
  applyLocal (record: RevocationRecord): void {
    this.list.apply(record)
    this.notify()
  }

  /** One sync round: reads every new entry in batches. Throws when the store fails. */
  async syncOnce (): Promise<void> {
    const batch = this.options.batchSize ?? 1000
    const startSeq = this.lastSeq
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
    if (this.lastSeq > startSeq) this.notify()
    // Sweeping walks every entry; expired entries are harmless (they cover only
    // tokens that fail their exp check first), so it runs now and then, not on every poll.
    const nowMs = this.lastSyncAt.getTime()
    if (nowMs - this.lastSweepAt >= (this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS)) {
      this.lastSweepAt = nowMs
      this.list.sweep(Math.floor(nowMs / 1000))
    }
  }

  /** One round that never throws: failures are reported once per streak. */
  tick (): Promise<void> {
    return this.ticker.tick()
  }

  /** Polls every `intervalMs`, one round at a time. */
  start (): void {
    this.ticker.start()
  }

  async stop (): Promise<void> {
    await this.ticker.stop()
  }
}
