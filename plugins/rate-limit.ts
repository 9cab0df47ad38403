// Per-IP rate limits (@fastify/rate-limit). Not global: the validate hot path
// stays unmetered. Every route that verifies a password or a client secret
// (register, login, refresh, password change, /oauth/token, introspect,
// revoke, and the revocation feed for readers it does not know yet) adds the one
// `credentialRateLimit` hook, and so draws on ONE budget of RATE_LIMIT_AUTH
// requests a minute per client IP: failing at one endpoint cannot buy fresh
// guesses at another. (A per-route `config.rateLimit` would give each route a
// counter of its own: the plugin makes a child store per route.)
import fp from 'fastify-plugin'
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'

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

async function rateLimitPlugin (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyRateLimit, {
    global: false,
    max: fastify.config.RATE_LIMIT_AUTH,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'too_many_requests',
      message: `rate limit exceeded, retry in ${Math.ceil(context.ttl / 1000)} s`
    })
  })
  // fastify.rateLimit() makes one limiter with one store: every route using it shares the counters.
  const limiter = fastify.rateLimit({ max: fastify.config.RATE_LIMIT_AUTH, timeWindow: 60_000 })
  // Run onRequest (as a route's own config would): a limited request is refused before its body is parsed.
  const credentialRateLimit: onRequestAsyncHookHandler = async (request, reply) => {
    await limiter.call(fastify, request, reply)
  }
  fastify.decorate('credentialRateLimit', credentialRateLimit)
  fastify.decorate('clientAddress', (request: FastifyRequest) => normalizeIP(request.ip, IPV6_SUBNET))
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x', dependencies: ['config'] })
