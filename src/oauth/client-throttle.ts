// Throttling of failed client authentications: after `threshold` failures in a
// row for one client_id (known or not) from one address, that client_id is
// refused with 429 for `lockSeconds` at that address, without spending argon2
// on it. Counted per address, unlike the per-account login lockout: client
// secrets are 256 random bits that no one guesses, and client_ids are not
// secret (tokens carry them), so a count per id alone would let anyone lock any
// client out with a few requests. The per-IP rate limit bounds the total, this
// bounds the work one address spends on one id.
//
// Two implementations of one rule: in memory, per process (bounded; the oldest
// entries go first), and in Redis (REDIS_URL), shared by every instance. The
// Redis one is a small script of our own rather than @fastify/rate-limit's
// store: that store counts requests per key in fixed windows and offers no way
// to clear a count, while this rule counts failures only, clears them on a
// success, and is asked by the domain with a (client_id, address) pair, not a
// request. The script does in one atomic step what the memory one does in one
// synchronous call, so failures counted at the same moment on several
// instances are all counted.
import type { Redis } from 'ioredis'
import { RateLimitUnavailableError } from '../errors.js'

export interface ClientThrottle {
  /** Seconds until this client_id may try again from this address, or null when it may now. */
  retryAfter: (clientId: string, from: string) => Promise<number | null>
  /** Counts a failed authentication; the threshold'th in a row locks the pair for the lock period. */
  failure: (clientId: string, from: string) => Promise<void>
  /** A success: the pair's count starts again. */
  success: (clientId: string, from: string) => Promise<void>
}

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
const pairKey = (clientId: string, from: string): string => `${from.length}:${from} ${clientId}`

/** In this process's memory: each instance (and worker) counts alone. */
export class MemoryClientThrottle implements ClientThrottle {
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (private readonly opts: ClientThrottleOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000
    this.now = opts.now ?? Date.now
  }

  async retryAfter (clientId: string, from: string): Promise<number | null> {
    const entry = this.entries.get(pairKey(clientId, from))
    if (entry === undefined) return null
    const wait = entry.lockedUntil - this.now()
    return wait > 0 ? Math.ceil(wait / 1000) : null
  }

  async failure (clientId: string, from: string): Promise<void> {
    const id = pairKey(clientId, from)
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

  async success (clientId: string, from: string): Promise<void> {
    this.entries.delete(pairKey(clientId, from))
  }
}

/**
 * One failure of a (client_id, address) pair, atomically.
 * KEYS[1]: the pair's failure count; KEYS[2]: the pair's lock.
 * ARGV[1]: the threshold; ARGV[2]: the lock period, ms.
 * The count lives a lock period from its first failure (older failures are
 * forgotten); the threshold'th sets the lock for a lock period and starts the
 * count again. Returns the count after this failure.
 */
const FAILURE_SCRIPT = `
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
end
return failures
`

interface ThrottleCommands {
  tokenOrchestratorClientFailure: (failuresKey: string, lockKey: string, threshold: number, lockMs: number) => Promise<number>
}

/**
 * In Redis, shared by every instance: the same rule, counted by one script
 * (FAILURE_SCRIPT). Lock periods run on Redis's clock. Any Redis error (down,
 * slower than its command timeout) is a RateLimitUnavailableError: the caller
 * fails closed.
 */
export class RedisClientThrottle implements ClientThrottle {
  private readonly redis: Redis & ThrottleCommands

  constructor (redis: Redis, private readonly opts: ClientThrottleOptions & { prefix: string }) {
    if (!('tokenOrchestratorClientFailure' in redis)) {
      redis.defineCommand('tokenOrchestratorClientFailure', { numberOfKeys: 2, lua: FAILURE_SCRIPT })
    }
    this.redis = redis as Redis & ThrottleCommands
  }

  /** The pair's two keys; the braces make them one hash slot, should the Redis be a cluster. */
  private keys (clientId: string, from: string): { failures: string, lock: string } {
    const base = `${this.opts.prefix}{${pairKey(clientId, from)}}`
    return { failures: `${base}:failures`, lock: `${base}:lock` }
  }

  async retryAfter (clientId: string, from: string): Promise<number | null> {
    const ms = await this.counted(this.redis.pttl(this.keys(clientId, from).lock))
    return ms > 0 ? Math.ceil(ms / 1000) : null
  }

  async failure (clientId: string, from: string): Promise<void> {
    const { failures, lock } = this.keys(clientId, from)
    await this.counted(this.redis.tokenOrchestratorClientFailure(failures, lock, this.opts.threshold, this.opts.lockSeconds * 1000))
  }

  async success (clientId: string, from: string): Promise<void> {
    await this.counted(this.redis.del(this.keys(clientId, from).failures))
  }

  private async counted<T> (command: Promise<T>): Promise<T> {
    try {
      return await command
    } catch (err) {
      throw new RateLimitUnavailableError(err)
    }
  }
}
