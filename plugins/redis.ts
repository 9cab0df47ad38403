// The Redis connection (ioredis) where the shared counters live: the per-IP
// credential budget (plugins/rate-limit.ts, through @fastify/rate-limit's own
// Redis store) and the client-secret failure throttle (plugins/oauth.ts).
// Decorated as `fastify.redis`; null without REDIS_URL, and then every counter
// stays in memory, per process.
//
// A Redis that is down or slow must fail fast, so that a credential route
// refuses at once instead of queueing behind it: no offline queue (a command
// sent while disconnected fails at once), no retry of a command a disconnect
// caught, REDIS_COMMAND_TIMEOUT_MS per command and REDIS_CONNECT_TIMEOUT_MS
// per connection attempt. Reconnects run by themselves, every 100 ms growing
// to 1 s, for as long as the process lives; the start does not wait for Redis
// beyond one connection attempt, so validate serves even if Redis never comes.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared counters' connection; null without REDIS_URL (counters in memory, per process). */
    redis: Redis | null
  }
}

/** Key prefix of everything the service keeps in Redis. */
export const REDIS_PREFIX = 'token-orchestrator:'

/** The delay before reconnect attempt `n` (1, 2, …): 100 ms, 200 ms, … then 1 s. */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, 1000)

/** Whether Redis answers now: false at once while disconnected, else a PING bounded by the command timeout. */
export async function redisAnswers (redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false
  try {
    await redis.ping()
    return true
  } catch {
    return false
  }
}

async function redisPlugin (fastify: FastifyInstance): Promise<void> {
  const url = fastify.config.REDIS_URL
  if (url === undefined) {
    fastify.decorate('redis', null)
    return
  }
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: fastify.config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: fastify.config.REDIS_CONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    connectionName: 'token-orchestrator'
  })
  // The URL may carry a password: only the address is logged.
  const where = { host: redis.options.host, port: redis.options.port, db: redis.options.db }
  // One line per change of state, not one per failed reconnect attempt.
  let up = false
  let closing = false
  let lastError: string | undefined
  redis.on('ready', () => {
    up = true
    lastError = undefined
    fastify.log.info(where, 'redis: connected; rate limits and the client throttle count in Redis, shared by every instance')
  })
  redis.on('close', () => {
    if (!up || closing) return
    up = false
    fastify.log.error(where, 'redis: connection lost; credential routes answer 503 rate_limit_unavailable until it is back (reconnecting)')
  })
  redis.on('error', (err: Error) => {
    // ioredis emits one per failed attempt; the message carries no credentials (address and errno only).
    if (err.message === lastError) return
    lastError = err.message
    fastify.log.warn({ ...where, reason: err.message }, 'redis: error')
  })
  try {
    await redis.connect()
  } catch {
    fastify.log.error(where, 'redis: unreachable at start; credential routes answer 503 rate_limit_unavailable until it answers (reconnecting)')
  }
  fastify.addHook('onClose', async () => {
    closing = true
    try {
      await redis.quit()
    } catch {
      // Not connected: stop the reconnect loop instead.
      redis.disconnect()
    }
  })
  fastify.decorate('redis', redis)
}

export default fp(redisPlugin, { name: 'redis', fastify: '5.x', dependencies: ['config'] })
