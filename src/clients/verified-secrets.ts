// A short memory of client secrets that verified, so that a resource server
// introspecting at a high rate pays one argon2 verification per lifetime of an
// entry instead of one per call. Only a keyed hash is held (HMAC-SHA256 under
// a random key made at start and never stored), bound to the stored secret
// hash it was checked against: a secret change in the store misses at once on
// every instance, and a disable is checked against the stored client anyway.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export interface VerifiedSecretsOptions {
  /** How long a verified secret is remembered, milliseconds; 0 remembers nothing. */
  ttlMs: number
  /** Bound on entries (one per client); the oldest goes first. */
  maxEntries?: number
  now?: () => number
}

interface Entry {
  mac: Buffer
  secretHash: string
  expiresAt: number
}

export class VerifiedSecrets {
  private readonly key = randomBytes(32)
  private readonly entries = new Map<string, Entry>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (opts: VerifiedSecretsOptions) {
    this.ttlMs = opts.ttlMs
    this.maxEntries = opts.maxEntries ?? 10_000
    this.now = opts.now ?? Date.now
  }

  private mac (clientId: string, secret: string): Buffer {
    // Length-prefixed, so that no (id, secret) pair can be shifted into another.
    return createHmac('sha256', this.key).update(`${clientId.length}:${clientId}:${secret}`).digest()
  }

  /** True when this client's secret verified against this stored hash within the lifetime. */
  has (clientId: string, secret: string, secretHash: string): boolean {
    const entry = this.entries.get(clientId)
    if (entry === undefined) return false
    if (entry.expiresAt <= this.now() || entry.secretHash !== secretHash) {
      this.entries.delete(clientId)
      return false
    }
    return timingSafeEqual(entry.mac, this.mac(clientId, secret))
  }

  remember (clientId: string, secret: string, secretHash: string): void {
    if (this.ttlMs <= 0) return
    this.entries.delete(clientId)
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    this.entries.set(clientId, { mac: this.mac(clientId, secret), secretHash, expiresAt: this.now() + this.ttlMs })
  }

  /** Drops a client's entry (disabled, or its secret changed). */
  forget (clientId: string): void {
    this.entries.delete(clientId)
  }

  get size (): number {
    return this.entries.size
  }
}
