// The periodic rounds the service runs in the background (following the
// revocation log, reading the outbox's last seq, re-reading the key ring): a
// round every `intervalMs`, never two at once, and a failing round reported
// once per streak rather than on every tick.

export interface TickerOptions {
  intervalMs: number
  /** Called on the first failure of a streak, not on every round. */
  onError?: (err: unknown) => void
  /** Called when a round succeeds after a failure. */
  onRecover?: () => void
}

export class Ticker {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private failing = false

  constructor (private readonly round: () => Promise<void>, private readonly options: TickerOptions) {}

  /** One round now, whatever else runs; it never throws (failures go to `onError`). */
  async tick (): Promise<void> {
    try {
      await this.round()
      if (this.failing) this.options.onRecover?.()
      this.failing = false
    } catch (err) {
      if (!this.failing) this.options.onError?.(err)
      this.failing = true
    }
  }

  /** A round now unless one is running (what the timer does). Resolves when that round ends; never rejects. */
  kick (): Promise<void> {
    return this.running ?? this.track(this.tick())
  }

  /**
   * A round that starts once the running one (if any) has ended: for a change
   * the running round may have read the store too early to see. Never rejects.
   */
  fresh (): Promise<void> {
    return this.track((this.running ?? Promise.resolve()).then(() => this.tick()))
  }

  start (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { this.kick().catch(() => {}) }, this.options.intervalMs)
    this.timer.unref()
  }

  /** Stops the timer and waits for the round in flight. */
  async stop (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  private track (round: Promise<void>): Promise<void> {
    const tracked: Promise<void> = round.finally(() => {
      if (this.running === tracked) this.running = undefined
    })
    this.running = tracked
    return tracked
  }
}
