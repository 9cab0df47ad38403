// Liveness and readiness for orchestrators and load balancers.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../plugins/schemas.js'
import { redisAnswers } from '../plugins/redis.js'

const Status = Type.Object({ status: Type.String({ examples: ['ok'] }) }, { description: 'Up', examples: [{ status: 'ok' }] })

const Ready = Type.Object({
  status: Type.String({ examples: ['ok'] }),
  redis: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('unavailable')], {
    description: 'With REDIS_URL only: whether Redis, where the rate limits count, answers a PING. While it is ' +
      'unavailable, credential routes answer 503 rate_limit_unavailable; validate and verify are not affected, so ' +
      'the instance stays ready.'
  }))
}, { description: 'The store answers', examples: [{ status: 'ok' }, { status: 'ok', redis: 'unavailable' }] })

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    schema: {
      tags: ['ops'],
      summary: 'Liveness: the process is up',
      description: 'Answers without touching the store; use it as the liveness probe. A failing store does not ' +
        'make an instance unhealthy (validate keeps answering), only unready.',
      response: { 200: Status }
    }
  }, async () => ({ status: 'ok' }))

  fastify.get('/ready', {
    schema: {
      tags: ['ops'],
      summary: 'Readiness: the store answers',
      description: 'Pings the store; use it as the readiness probe and the load balancer\'s health check. ' +
        'Validate keeps answering from memory while the store is down; login, refresh and logout do not. ' +
        'With REDIS_URL, `redis` says whether Redis answers; an outage of Redis alone keeps the instance ready ' +
        '(every instance shares it, and validate does not need it) and shows there and in the ' +
        '`token_orchestrator_redis_up` metric.',
      response: { 200: Ready, ...errors({ 503: 'The store is unreachable' }) }
    }
  }, async () => {
    const { redis } = fastify
    const [, redisOk] = await Promise.all([fastify.store.ping(), redis !== null ? redisAnswers(redis) : undefined])
    return redisOk === undefined ? { status: 'ok' } : { status: 'ok', redis: redisOk ? 'ok' as const : 'unavailable' as const }
  })
}

export default healthRoutes
