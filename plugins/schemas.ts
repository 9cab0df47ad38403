// Schemas shared by reference across routes (`$ref: 'ErrorResponse#'`).
// Registered on the root instance before any route, so every route's
// validator and serializer can resolve them, and @fastify/swagger emits each
// once under components.schemas.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ErrorResponseSchema } from '../routes/schemas.js'

async function schemasPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ErrorResponseSchema)
}

export default fp(schemasPlugin, { name: 'schemas', fastify: '5.x' })
