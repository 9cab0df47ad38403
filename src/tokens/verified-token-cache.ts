// A bounded cache of access tokens that already passed verification, keyed by
// the exact token string (no hashing on the hot path, and no collisions: two
// tokens share an entry only if they are the same token). An entry answers
// only while its token has not expired; revocation is checked by the caller on
// every use, so a cached token is still refused the moment it is revoked.

export class VerifiedTokenCache<T> {
  /** token → [claims, exp in epoch ms]. Insertion order is age order: the oldest is evicted first. */
  private readonly entries = new Map<string, { claims: T, expMs: number }>()

  constructor (private readonly capacity: number) {}

  get (token: string, nowMs: number): T | undefined {
    const entry = this.entries.get(token)
    if (entry === undefined) return undefined
    if (nowMs >= entry.expMs) {
      this.entries.delete(token)
      return undefined
    }
    return entry.claims
  }

  set (token: string, claims: T, expSeconds: number): void {
    if (this.capacity <= 0) return
    if (this.entries.size >= this.capacity) {
      // FIFO eviction: a working set up to the capacity always hits, and a flood
      // of new tokens cannot do worse than make the cache miss.
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(token, { claims, expMs: expSeconds * 1000 })
  }

  get size (): number {
    return this.entries.size
  }

  clear (): void {
    this.entries.clear()
  }
}
