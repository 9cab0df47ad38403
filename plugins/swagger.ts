// OpenAPI 3 document generated from the route schemas (@fastify/swagger),
// served as JSON at /docs/json and browsable with Swagger UI at /docs, unless
// DOCS=off.
// Swagger UI's own routes are left out of the document; every other route is in.
import fp from 'fastify-plugin'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** The operations an OpenAPI 3.0 Path Item can hold. */
const OPENAPI_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

async function swaggerPlugin (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Token Orchestrator',
        description: 'Issues, refreshes, validates and revokes JWTs for many clients and services.\n\n' +
          'Every error is `{"error": "<machine_code>", "message": "<text>"}` with the matching status ' +
          '(the `ErrorResponse` schema), except under /oauth, where errors are RFC 6749 §5.2 ' +
          '`{"error": "<code>", "error_description": "<text>"}` (the `OAuthError` schema), which OAuth client ' +
          'libraries parse. Token answers carry `Cache-Control: no-store`. Every answer carries ' +
          'its request id in `X-Request-Id`, the `reqId` of its log lines; a well-formed incoming `X-Request-Id` is kept.',
        version: '0.1.0'
      },
      tags: [
        { name: 'auth', description: 'Register, log in, refresh and log out' },
        { name: 'token', description: 'Validate and revoke tokens (the hot path)' },
        { name: 'gateway', description: 'Auth subrequests from API gateways' },
        { name: 'ops', description: 'Health and readiness' },
        { name: 'admin', description: 'Clients and sessions (access token with the admin role)' },
        { name: 'keys', description: 'Signing keys: JWKS and rotation' },
        { name: 'oauth', description: 'OAuth 2.0 token, introspection, revocation and metadata (RFC 6749, 7662, 7009, 8414)' },
        { name: 'ssf', description: 'Shared Signals (SSF 1.0) transmitter: streams, status, verification, poll delivery (RFC 8936); a client token with ssf:manage' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An access token from /auth/login or /auth/refresh: `Authorization: Bearer <access_token>`'
          },
          clientBasic: {
            type: 'http',
            scheme: 'basic',
            description: 'Client authentication: `Authorization: Basic base64(client_id:client_secret)`'
          }
        }
      }
    },
    // Shared schemas (plugins/schemas.ts) appear under their own $id, e.g.
    // #/components/schemas/ErrorResponse, rather than as def-0, def-1, ...
    refResolver: {
      buildLocalReference (json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`
      }
    },
    // Routes registered for every method (the gateway's /auth/verify) include
    // methods such as QUERY that an OpenAPI 3.0 Path Item cannot hold.
    transformObject (documentObject) {
      if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
      const { openapiObject } = documentObject
      for (const pathItem of Object.values(openapiObject.paths ?? {})) {
        for (const key of Object.keys(pathItem as object)) {
          if (!OPENAPI_METHODS.has(key) && !['summary', 'description', 'parameters', 'servers', '$ref'].includes(key) &&
            !key.startsWith('x-')) {
            delete (pathItem as Record<string, unknown>)[key]
          }
        }
      }
      return openapiObject
    }
  })
  // DOCS=off: the document is still built (schemas feed nothing else), but
  // neither /docs nor /docs/json is served.
  if (fastify.config.DOCS === 'off') return
  await fastify.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, displayRequestDuration: true },
    // A Content-Security-Policy on every /docs answer, with the hashes of the
    // UI's own inline scripts and styles. Without upgrade-insecure-requests:
    // the service is also reached over plain HTTP (loopback, behind a proxy),
    // where that directive would send the page's requests to a port with no TLS.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/ ?upgrade-insecure-requests;/, '')
  })
}

export default fp(swaggerPlugin, { name: 'swagger', fastify: '5.x', dependencies: ['schemas'] })
