// The headers every answer carries, set in one place:
// - `X-Request-Id`: the request's id, the `reqId` of its log lines
//   (src/main/request-id.ts decides it: a well-formed incoming X-Request-Id,
//   else a random UUID), so a client or gateway can quote it;
// - `X-Content-Type-Options: nosniff`;
// - `Cache-Control: no-store` on every answer that did not set a Cache-Control
//   of its own (the JWKS and the OAuth metadata do): tokens, identities and
//   the errors about them are never kept by a browser or a shared cache. A
//   rule by path prefix would miss the same routes reached through a
//   percent-encoded path (`/%61uth/login` is routed as `/auth/login`).
// This includes answers made by the error handler, the not-found handler, the
// rate limit or a refused content type: the hook runs onSend, not onRequest,
// because a 429 or a 404 can be sent before (or without) a route's hooks. The
// CSP of /docs is set by the Swagger UI plugin itself (plugins/swagger.ts).
//
// One hook rather than @fastify/helmet: helmet sets a dozen headers per
// answer, and the hot routes (validate, batch validate, gateway verify) are
// measured against a bare Fastify route. Here they pay one hook and three
// header writes, and their handlers set none of these again.
import fp from 'fastify-plugin'
import type { FastifyInstance, onSendHookHandler } from 'fastify'

async function responseHeadersPlugin (fastify: FastifyInstance): Promise<void> {
  const headers: onSendHookHandler = (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    done(null, payload)
  }
  fastify.addHook('onSend', headers)
}

export default fp(responseHeadersPlugin, { name: 'response-headers', fastify: '5.x' })
