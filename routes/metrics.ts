// GET /metrics: Prometheus text exposition of the instance's registry
// (plugins/metrics.ts). Not counted in the route metrics itself.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const metricsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { registry } = fastify.serviceMetrics
  fastify.get('/metrics', {
    config: { disableMetrics: true },
    schema: {
      tags: ['ops'],
      summary: 'Prometheus metrics',
      description: 'Request counts and latency by route, validations by result, logins, refreshes, refresh reuse, ' +
        'revocations, revocation cache size and sync lag, and the process metrics of prom-client.',
      produces: ['text/plain'],
      response: {
        200: Type.String({
          description: 'Prometheus text exposition format 0.0.4',
          examples: [
            '# HELP token_orchestrator_validations_total Token validations (validate, batch validate, gateway verify) by result\n' +
            '# TYPE token_orchestrator_validations_total counter\n' +
            'token_orchestrator_validations_total{result="valid"} 1042\n' +
            'token_orchestrator_validations_total{result="expired"} 3\n'
          ]
        })
      }
    }
  }, async (_request, reply) => {
    const body = await registry.metrics()
    return reply.type(registry.contentType).send(body)
  })
}

export default metricsRoutes
