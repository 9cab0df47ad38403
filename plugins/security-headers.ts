// Response headers every answer carries: `X-Content-Type-Options: nosniff`
// everywhere, and `Cache-Control: no-store` on everything under /admin,
// /token, /oauth and /auth (tokens, identities, and the errors about them),
// including answers made by the error handler, the not-found handler, the
// rate limit or a refused content type. The CSP of /docs is set by the Swagger
// UI plugin itself (plugins/swagger.ts).
//
// An onSend hook rather than @fastify/helmet on every route: helmet sets a
// dozen headers per answer, and the hot routes (validate, batch validate,
// gateway verify) are measured against a bare Fastify route. Here they pay
// two header writes. onSend, not onRequest, because a 429 or a 404 can be sent
// before (or without) the hooks of a route.
import fp from 'fastify-plugin'
import type { FastifyInstance, onSendHookHandler } from 'fastify'

/** Paths whose answers must not be kept by a browser or a shared cache. */
const NO_STORE_PATH = /^\/(?:admin|token|oauth|auth)(?:[/?]|$)/

async function securityHeadersPlugin (fastify: FastifyInstance): Promise<void> {
  const headers: onSendHookHandler = (request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff')
    if (NO_STORE_PATH.test(request.url)) reply.header('cache-control', 'no-store')
    done(null, payload)
  }
  fastify.addHook('onSend', headers)
}

export default fp(securityHeadersPlugin, { name: 'security-headers', fastify: '5.x' })
