// Throttling of failed client authentications: after `threshold` failures in a
// row for one client_id (known or not) from one address, that client_id is
// refused with 429 for `lockSeconds` at that address, without spending argon2
// on it. Counted per address, unlike the per-account login lockout: client
// secrets are 256 random bits that no one guesses, and client_ids are not
// secret (tokens carry them), so a count per id alone would let anyone lock any
// client out with a few requests. Counted in memory per instance (bounded; the
// oldest entries go first): the per-IP rate limit bounds the total, this bounds
// the work one address spends on one id.
export interface ClientThrottleOptions {
  threshold: number
  lockSeconds: number
  maxEntries?: number
  now?: () => number
}

interface Entry {
  failures: number
  lockedUntil: number
  /** Failures older than a lock period are forgotten. */
  since: number
}

/** Length-prefixed, so that no (address, id) pair can pose as another, whatever either holds. */
const key = (clientId: string, from: string): string => `${from.length}:${from} ${clientId}`

export class ClientThrottle {
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (private readonly opts: ClientThrottleOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000
    this.now = opts.now ?? Date.now
  }

  /** Seconds until this client_id may try again from this address, or null when it may now. */
  retryAfter (clientId: string, from: string): number | null {
    const entry = this.entries.get(key(clientId, from))
    if (entry === undefined) return null
    const wait = entry.lockedUntil - this.now()
    return wait > 0 ? Math.ceil(wait / 1000) : null
  }

  failure (clientId: string, from: string): void {
    const id = key(clientId, from)
    const now = this.now()
    const lockMs = this.opts.lockSeconds * 1000
    let entry = this.entries.get(id)
    if (entry === undefined || (entry.lockedUntil <= now && now - entry.since > lockMs)) {
      entry = { failures: 0, lockedUntil: 0, since: now }
    }
    entry.failures += 1
    if (entry.failures >= this.opts.threshold) {
      entry.lockedUntil = now + lockMs
      entry.failures = 0
      entry.since = now
    }
    this.entries.delete(id)
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    this.entries.set(id, entry)
  }

  success (clientId: string, from: string): void {
    this.entries.delete(key(clientId, from))
  }
}
