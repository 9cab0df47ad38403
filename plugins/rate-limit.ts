// Per-IP rate limits (@fastify/rate-limit). Not global: the credential routes
// opt in with `config: { rateLimit: CREDENTIAL_RATE_LIMIT }`; the validate hot
// path stays unmetered. The limit itself (RATE_LIMIT_AUTH a minute) is set
// once, here: a route's options are merged over these.
import fp from 'fastify-plugin'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'

/** The credential routes' limit: this plugin's defaults, each route counted on its own. */
export const CREDENTIAL_RATE_LIMIT = {}

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
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x', dependencies: ['config'] })
