// The headers every answer carries (src/main/answer-headers.ts: X-Request-Id,
// nosniff, and no-store unless the answer sets its own caching), set in one
// onSend hook. That includes answers made by the error handler, the not-found
// handler, the rate limit or a refused content type: the hook runs onSend,
// not onRequest, because a 429 or a 404 can be sent before (or without) a
// route's hooks. The CSP of /docs is set by the Swagger UI plugin itself
// (plugins/swagger.ts).
//
// One hook rather than @fastify/helmet: helmet sets a dozen headers per
// answer, and the hot routes (validate, batch validate, gateway verify) are
// measured against a bare Fastify route. Here they pay one hook and three
// header writes, and their handlers set none of these again.
import fp from 'fastify-plugin'
import type { FastifyInstance, onSendHookHandler } from 'fastify'
import { setAnswerHeaders } from '../src/main/answer-headers.js'

async function responseHeadersPlugin (fastify: FastifyInstance): Promise<void> {
  const headers: onSendHookHandler = (request, reply, payload, done) => {
    setAnswerHeaders(request, reply)
    done(null, payload)
  }
  fastify.addHook('onSend', headers)
}

export default fp(responseHeadersPlugin, { name: 'response-headers', fastify: '5.x' })
