// OpenAPI 3 document generated from the route schemas (@fastify/swagger),
// served as JSON at /docs/json and browsable with Swagger UI at /docs.
import fp from 'fastify-plugin'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

async function swaggerPlugin (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Token Orchestrator',
        description: 'Issues, refreshes, validates and revokes JWTs for many clients and services.',
        version: '0.1.0'
      },
      tags: [
        { name: 'auth', description: 'Register, log in, refresh and log out' },
        { name: 'token', description: 'Validate and revoke tokens (the hot path)' },
        { name: 'gateway', description: 'Auth subrequests from API gateways' },
        { name: 'ops', description: 'Health and readiness' },
        { name: 'admin', description: 'Clients and sessions (access token with the admin role)' },
        { name: 'keys', description: 'Signing keys: JWKS and rotation' },
        { name: 'oauth', description: 'OAuth 2.0 token, introspection, revocation and metadata (RFC 6749, 7662, 7009, 8414)' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          clientBasic: { type: 'http', scheme: 'basic', description: 'client_id and client_secret (RFC 6749 §2.3.1)' }
        }
      }
    }
  })
  await fastify.register(fastifySwaggerUi, { routePrefix: '/docs' })
}

export default fp(swaggerPlugin, { name: 'swagger', fastify: '5.x' })
