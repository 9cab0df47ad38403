// A bounded cache of access tokens that already passed verification. An entry
// answers only for the exact token string it was made for, and only while that
// token has not expired; revocation is checked by the caller on every use, so
// a cached token is still refused the moment it is revoked.
//
// The map's key is the token's signature segment (its text after the last
// dot), not the whole token: a Map hashes its key on every lookup, and the
// tokens presented on the hot path are new strings each time, so hashing 43
// characters instead of 300 and more is the difference that shows. The entry
// keeps the whole token and a lookup compares it: two tokens that share a
// signature segment (a forgery that copies one) never share an entry.

interface Entry<T> { token: string, claims: T, expMs: number }

/** The text after the last dot: a JWS's signature segment, or the whole string when it has no dot. */
function signatureOf (token: string): string {
  return token.slice(token.lastIndexOf('.') + 1)
}

export class VerifiedTokenCache<T> {
  /** signature segment → entry. Insertion order is age order: the oldest is evicted first. */
  private readonly entries = new Map<string, Entry<T>>()

  constructor (private readonly capacity: number) {}

  get (token: string, nowMs: number): T | undefined {
    const key = signatureOf(token)
    const entry = this.entries.get(key)
    if (entry === undefined || entry.token !== token) return undefined
    if (nowMs >= entry.expMs) {
      this.entries.delete(key)
      return undefined
    }
    return entry.claims
  }

  set (token: string, claims: T, expSeconds: number): void {
    if (this.capacity <= 0) return
    const key = signatureOf(token)
    if (!this.entries.has(key) && this.entries.size >= this.capacity) {
      // FIFO eviction: a working set up to the capacity always hits, and a flood
      // of new tokens cannot do worse than make the cache miss.
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { token, claims, expMs: expSeconds * 1000 })
  }

  get size (): number {
    return this.entries.size
  }

  clear (): void {
    this.entries.clear()
  }
}
