// GET /metrics: Prometheus text exposition of the instance's registry, or of
// all its workers together (plugins/metrics/index.ts). Not counted in the route metrics itself. When
// METRICS_TOKEN is set, only a scraper presenting it as a bearer token is
// answered: the page shows the runtime, heap use and login counts.
import { createHash, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../plugins/schemas.js'

/** Compared as digests: constant time whatever the lengths, so neither the token nor its length leaks. */
const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

const metricsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { registry, exposition } = fastify.serviceMetrics
  const token = fastify.config.METRICS_TOKEN
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`)
  fastify.get('/metrics', {
    config: { disableMetrics: true },
    onRequest: async (request, reply) => {
      if (expected === undefined) return
      const presented = request.headers.authorization
      if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"')
        .send({ error: 'unauthorized', message: 'a valid metrics bearer token is required' })
    },
    schema: {
      tags: ['ops'],
      summary: 'Prometheus metrics',
      description: 'Request counts and latency by route, validations by result, logins, refreshes, refresh reuse, ' +
        'revocations, revocation cache size and sync lag, and the process metrics of prom-client. ' +
        'With several workers (WORKERS), the whole service: counters and histograms summed over the workers, ' +
        'gauges as each states (the revocation gauges show the largest worker value), plus the workers listening ' +
        'and the worker restarts. When the service has a METRICS_TOKEN, it must be sent as `Authorization: Bearer <token>`.',
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
        }),
        ...errors({
          401: { description: 'METRICS_TOKEN is set and the request does not carry it', error: 'unauthorized', message: 'a valid metrics bearer token is required' },
          503: { description: 'Several workers serve and the primary process did not answer in time', error: 'metrics_unavailable', message: 'the metrics of the workers could not be collected, try again' }
        })
      }
    }
  }, async (request, reply) => {
    let body: string
    try {
      body = await exposition()
    } catch (err) {
      request.log.warn({ err }, 'metrics not collected')
      return reply.code(503).send({ error: 'metrics_unavailable', message: 'the metrics of the workers could not be collected, try again' })
    }
    return reply.type(registry.contentType).send(body)
  })
}

export default metricsRoutes
