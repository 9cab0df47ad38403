// Every /ssf route needs a valid, unrevoked access token (401 otherwise) that
// a client got for itself with the client_credentials grant and the ssf:manage
// scope, of a client that is enabled and has that scope now (403 otherwise):
// the receiver, whose streams alone the request may see or change
// (Transmitter.authorize holds the rule). With Shared Signals off (HS256) the
// routes answer 404. Enforced here for the whole folder, so no route can
// forget it.
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../src/errors.js'
import { SSF_OFF } from '../../src/ssf/transmitter.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The client_id of the receiver whose streams this request may manage. */
    receiver: string
  }
}

export default async function ssfHooks (fastify: FastifyInstance): Promise<void> {
  fastify.decorateRequest('receiver', '')
  fastify.addHook('onRequest', async (request) => {
    await fastify.authenticate(request)
    if (fastify.ssf === null) throw new AppError('not_found', SSF_OFF)
    request.receiver = await fastify.ssf.authorize(request.principal!)
  })
}
