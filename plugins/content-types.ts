// Bodies are JSON only. Fastify also parses text/plain by default, which turned
// a text body into a confusing 400 "body must be object"; without that parser
// every non-JSON body is a clear 415 unsupported_media_type.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

async function contentTypesPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.removeContentTypeParser('text/plain')
}

export default fp(contentTypesPlugin, { name: 'content-types', fastify: '5.x' })
