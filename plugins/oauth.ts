// The OAuth 2.0 service (`fastify.oauth`) behind routes/oauth: client
// authentication, the token endpoint's grants, introspection and revocation.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { OAuthService } from '../src/oauth/oauth-service.js'
import { MemoryClientThrottle, RedisClientThrottle, type ClientThrottle } from '../src/oauth/client-throttle.js'
import { REDIS_PREFIX } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthService
    /** Failed client authentications per client_id and address, shared by every endpoint that checks a client secret. */
    clientThrottle: ClientThrottle
  }
}

async function oauthPlugin (fastify: FastifyInstance): Promise<void> {
  // Failed client authentications are throttled per client_id and address, with the login lockout's
  // thresholds: in Redis (shared by every instance) when there is one, else in this process's memory.
  const policy = { threshold: fastify.config.LOCKOUT_THRESHOLD, lockSeconds: fastify.config.LOCKOUT_SECONDS }
  const throttle: ClientThrottle = fastify.redis !== null
    ? new RedisClientThrottle(fastify.redis, { ...policy, prefix: `${REDIS_PREFIX}client-throttle:` })
    : new MemoryClientThrottle({ ...policy, ...(fastify.clockMs !== undefined ? { now: fastify.clockMs } : {}) })
  fastify.decorate('clientThrottle', throttle)
  fastify.decorate('oauth', new OAuthService({
    auth: fastify.auth,
    clients: fastify.clients,
    tokens: fastify.tokens,
    revocations: fastify.revocations,
    store: fastify.store,
    now: fastify.clock,
    throttle
  }))
}

export default fp(oauthPlugin, {
  name: 'oauth',
  fastify: '5.x',
  dependencies: ['store', 'jwt', 'revocation', 'auth', 'redis']
})
