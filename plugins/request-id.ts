// Every answer carries its request id in X-Request-Id: the `reqId` of the
// request's log lines (src/server-options.ts decides it: a well-formed incoming
// X-Request-Id, else a random UUID), so a client or gateway can quote it.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

async function requestIdPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
}

export default fp(requestIdPlugin, { name: 'request-id', fastify: '5.x' })
