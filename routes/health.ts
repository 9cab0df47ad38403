// Liveness and readiness for orchestrators and load balancers.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from './schemas.js'

const Status = Type.Object({ status: Type.String({ examples: ['ok'] }) })

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    schema: {
      tags: ['ops'],
      summary: 'Liveness: the process is up',
      response: { 200: Status }
    }
  }, async () => ({ status: 'ok' }))

  fastify.get('/ready', {
    schema: {
      tags: ['ops'],
      summary: 'Readiness: the store answers',
      description: 'Validate keeps answering from memory while the store is down; login, refresh and logout do not.',
      response: { 200: Status, ...errors({ 503: 'store_unavailable' }) }
    }
  }, async () => {
    await fastify.store.ping()
    return { status: 'ok' }
  })
}

export default healthRoutes
