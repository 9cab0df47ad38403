// /.well-known: RFC 8414 authorization server metadata, so OAuth clients and
// gateways can discover the endpoints and the JWKS from PUBLIC_URL.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ServerMetadata } from './oauth/schemas.js'

const wellKnownRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const base = fastify.config.PUBLIC_URL
  const clientAuthMethods = ['client_secret_basic', 'client_secret_post']
  const metadata = {
    issuer: base,
    token_endpoint: `${base}/oauth/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
    // No authorization endpoint: no response types.
    response_types_supported: [],
    // `none` is the built-in public `default` client (password and refresh_token only).
    token_endpoint_auth_methods_supported: [...clientAuthMethods, 'none'],
    introspection_endpoint_auth_methods_supported: clientAuthMethods,
    revocation_endpoint_auth_methods_supported: clientAuthMethods
  }

  fastify.get('/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['oauth'],
      summary: 'Authorization server metadata (RFC 8414)',
      description: 'URLs are built from PUBLIC_URL.',
      response: { 200: ServerMetadata }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return metadata
  })
}

export default wellKnownRoutes
