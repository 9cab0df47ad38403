// Per-IP rate limits (@fastify/rate-limit). Not global: the validate hot path
// stays unmetered. Every route that verifies a password or a client secret
// (register, login, refresh, password change, /oauth/token, introspect,
// revoke, and the revocation feed for readers it does not know yet) adds the one
// `credentialRateLimit` hook, and so draws on ONE budget of RATE_LIMIT_AUTH
// requests a minute per client IP: failing at one endpoint cannot buy fresh
// guesses at another. (A per-route `config.rateLimit` would give each route a
// counter of its own: the plugin makes a child store per route.)
//
// With REDIS_URL the budget counts in Redis, through the plugin's own Redis
// store (one atomic script per request), so it is one budget per IP across
// every instance and worker; without it, in this process's memory. When Redis
// cannot count (down, or slower than REDIS_COMMAND_TIMEOUT_MS), the request is
// refused with 503 rate_limit_unavailable before its body is parsed: a guess
// that cannot be counted is not admitted (`skipOnError: false`).
import fp from 'fastify-plugin'
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { RateLimitUnavailableError } from '../src/errors.js'
import { REDIS_PREFIX } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of every credential route: one shared per-IP budget (RATE_LIMIT_AUTH a minute). */
    credentialRateLimit: onRequestAsyncHookHandler
    /**
     * The client address as every per-address rule counts it (the credential
     * budget, the account lockout, the client throttle): request.ip, with an
     * IPv6 address taken as its /64, so one host cannot spread its attempts
     * over the addresses of its own network.
     */
    clientAddress: (request: FastifyRequest) => string
  }
}

/** The prefix an IPv6 client is counted by: one network, as the rate limiter counts it. */
export const IPV6_SUBNET = 64

/** What the plugin throws for a request over the budget (errorResponseBuilder's answer). */
class BudgetSpent extends Error {
  readonly statusCode = 429
}

async function rateLimitPlugin (fastify: FastifyInstance): Promise<void> {
  const { redis } = fastify
  await fastify.register(fastifyRateLimit, {
    global: false,
    max: fastify.config.RATE_LIMIT_AUTH,
    timeWindow: 60_000,
    ipv6Subnet: IPV6_SUBNET,
    ...(redis !== null ? { redis, nameSpace: `${REDIS_PREFIX}credentials:` } : {}),
    // Never admit a request the store could not count.
    skipOnError: false,
    errorResponseBuilder: (_request, context) =>
      new BudgetSpent(`rate limit exceeded, retry in ${Math.ceil(context.ttl / 1000)} s`)
  })
  if (redis === null) {
    fastify.log.info('rate limits and the client throttle count in memory, per process: each instance (and worker) has a budget of its own; set REDIS_URL to share them')
  }
  // Without options, fastify.rateLimit() uses the plugin's own store and settings:
  // one limiter whose counters (keyed by IP alone) every route using it shares.
  const limiter = fastify.rateLimit()
  // Run onRequest (as a route's own config would): a limited request is refused before its body is parsed.
  const credentialRateLimit: onRequestAsyncHookHandler = async (request, reply) => {
    try {
      await limiter.call(fastify, request, reply)
    } catch (err) {
      if (err instanceof BudgetSpent) throw err
      // The store failed (Redis down or slow): fail closed.
      throw new RateLimitUnavailableError(err)
    }
  }
  fastify.decorate('credentialRateLimit', credentialRateLimit)
  fastify.decorate('clientAddress', (request: FastifyRequest) => normalizeIP(request.ip, IPV6_SUBNET))
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'redis'] })
