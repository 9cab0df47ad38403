// Liveness and readiness for orchestrators and load balancers.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../plugins/schemas.js'

const Status = Type.Object({ status: Type.String({ examples: ['ok'] }) }, { description: 'Up', examples: [{ status: 'ok' }] })

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
        'Validate keeps answering from memory while the store is down; login, refresh and logout do not.',
      response: { 200: { ...Status, description: 'The store answers' }, ...errors({ 503: 'The store is unreachable' }) }
    }
  }, async () => {
    await fastify.store.ping()
    return { status: 'ok' }
  })
}

export default healthRoutes
