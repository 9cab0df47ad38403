// Schemas shared by reference across routes (`$ref: 'ErrorResponse#'`,
// `$ref: 'OAuthError#'`).
// Registered on the root instance before any route, so every route's
// validator and serializer can resolve them, and @fastify/swagger emits each
// once under components.schemas.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ErrorResponseSchema } from '../routes/schemas.js'
import { OAuthErrorSchema } from '../routes/oauth/schemas.js'

async function schemasPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ErrorResponseSchema)
  // /oauth answers RFC 6749 §5.2 `{error, error_description}` instead (routes/oauth).
  fastify.addSchema(OAuthErrorSchema)
}

export default fp(schemasPlugin, { name: 'schemas', fastify: '5.x' })
