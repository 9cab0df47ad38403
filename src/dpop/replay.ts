// Where DPoP proofs already seen are remembered, so a replayed proof is
// refused (RFC 9449 §11.1). A guard claims a proof's replay key: true the
// first time, false for a replay. Every variant keeps a bounded in-memory
// cache in front, so a replay to the same instance is refused without a round
// trip; the store-backed one shares what it saw with every instance through
// the store's atomic insert-if-absent, the Redis-backed one through
// `SET key 1 NX EXAT expiresAt` (atomic in Redis, expired by Redis itself).
import { ReplayCache } from '@token-orchestrator/verifier/dpop'
import { StoreUnavailableError } from '../errors.js'
import type { DpopProofStore } from '../store/types.js'

export interface ReplayGuard {
  /** Remembers `key` until `expiresAt` (epoch seconds): true the first time, false for a replay. */
  claim (key: string, expiresAt: number, nowSeconds: number): Promise<boolean>
}

/** Proofs remembered per process by default: a window's worth at a few thousand proofs a second. */
export const REPLAY_MEMORY_SIZE = 200_000

/**
 * This process only: for a single instance, or tests. Full of live proofs, it
 * refuses new ones (as replays) until some expire; `onFull` is told so, at
 * most once a second, with the number of proofs held.
 */
export class MemoryReplayGuard implements ReplayGuard {
  private readonly cache: ReplayCache

  constructor (capacity = REPLAY_MEMORY_SIZE, onFull?: (size: number) => void) {
    this.cache = new ReplayCache(capacity, onFull)
  }

  async claim (key: string, expiresAt: number, nowSeconds: number): Promise<boolean> {
    return this.cache.claim(key, expiresAt, nowSeconds)
  }
}

/**
 * A guard shared by every instance, with this process's memory in front: a
 * replay already seen here is answered without a round trip; the shared side
 * (`claimShared`) decides the rest.
 */
abstract class SharedReplayGuard implements ReplayGuard {
  private readonly cache: ReplayCache

  constructor (capacity: number) {
    this.cache = new ReplayCache(capacity)
  }

  protected abstract claimShared (key: string, expiresAt: number, nowSeconds: number): Promise<boolean>

  async claim (key: string, expiresAt: number, nowSeconds: number): Promise<boolean> {
    if (this.cache.has(key, nowSeconds)) return false
    const first = await this.claimShared(key, expiresAt, nowSeconds)
    this.cache.claim(key, expiresAt, nowSeconds)
    return first
  }
}

/**
 * Every instance that shares the store: the store decides. When the store
 * cannot be reached the claim throws (StoreUnavailableError): a proof is never
 * accepted on the word of one instance when others might have seen it.
 */
export class StoreReplayGuard extends SharedReplayGuard {
  constructor (private readonly store: DpopProofStore, capacity = REPLAY_MEMORY_SIZE) {
    super(capacity)
  }

  protected async claimShared (key: string, expiresAt: number, nowSeconds: number): Promise<boolean> {
    return this.store.claim(key, new Date(expiresAt * 1000), new Date(nowSeconds * 1000))
  }
}

/** What RedisReplayGuard needs of a Redis client (ioredis's `set`). */
export interface RedisSetter {
  set (key: string, value: string, exat: 'EXAT', at: number, nx: 'NX'): Promise<string | null>
}

/** Keys in Redis are prefixed, so that the replay entries share a database with anything else. */
export const REDIS_REPLAY_PREFIX = 'token-orchestrator:dpop:'

/**
 * Every instance that shares the Redis server: one `SET NX` per new proof.
 * When Redis cannot be reached the claim throws, and the request is refused
 * (503), as with the store.
 */
export class RedisReplayGuard extends SharedReplayGuard {
  constructor (private readonly redis: RedisSetter, capacity = REPLAY_MEMORY_SIZE) {
    super(capacity)
  }

  protected async claimShared (key: string, expiresAt: number): Promise<boolean> {
    try {
      return await this.redis.set(REDIS_REPLAY_PREFIX + key, '1', 'EXAT', expiresAt, 'NX') === 'OK'
    } catch {
      // The driver's error (with the server's address) stays out of the answer.
      throw new StoreUnavailableError()
    }
  }
}
