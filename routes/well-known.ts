// /.well-known: the JWKS (public keys of the key ring, for gateways and
// services that verify access tokens themselves) and RFC 8414 authorization
// server metadata, so OAuth clients can discover the endpoints from PUBLIC_URL.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { GRANT_TYPES } from '../src/clients/clients.js'
import { jwksMaxAge } from '../src/keys/key-ring.js'
import { ServerMetadata } from './oauth/schemas.js'
import { TransmitterMetadataSchema } from './ssf/schemas.js'
import { SSF_OFF } from '../src/ssf/transmitter.js'
import { AppError } from '../src/errors.js'
import { errors } from '../plugins/schemas.js'
import { previousIssuers } from '../src/main/config.js'
import type { PreviousIssuers } from '@token-orchestrator/verifier/rules'

function issuerWindow (previous: PreviousIssuers | undefined): { jwt_issuer_previous?: string[], jwt_issuer_previous_until?: number } {
  return previous === undefined ? {} : { jwt_issuer_previous: [...previous.issuers], jwt_issuer_previous_until: previous.until }
}

const Jwk = Type.Object({
  kty: Type.String({ description: '`EC` (ES256), `OKP` (EdDSA) or `RSA` (RS256)', examples: ['EC'] }),
  crv: Type.Optional(Type.String({ description: 'EC and OKP: `P-256` or `Ed25519`', examples: ['P-256'] })),
  x: Type.Optional(Type.String({ description: 'EC and OKP public key' })),
  y: Type.Optional(Type.String({ description: 'EC public key' })),
  n: Type.Optional(Type.String({ description: 'RSA modulus' })),
  e: Type.Optional(Type.String({ description: 'RSA exponent' })),
  kid: Type.String({ description: 'RFC 7638 thumbprint; the `kid` header of the tokens this key signs' }),
  alg: Type.String({ examples: ['ES256'] }),
  use: Type.Literal('sig')
})
const Jwks = Type.Object({ keys: Type.Array(Jwk) }, {
  description: 'RFC 7517 JWK set: public members only. Empty with JWT_ALGORITHM=HS256.',
  examples: [{
    // The signing key, and the next one published ahead of its activation.
    keys: [
      { kty: 'EC', crv: 'P-256', x: 'h3a3Xzoioo_8vS6hLcaxis-Hl1QRpDeDuRkRocMs0oo', y: 'KQCxLYZNb5BShbJv5izrhw5KBAnBSUnNAXAqRbEbL9c', kid: 'Pzs6Dncpobh9aPFJ8TJEHyheKrO2NRkGvUkrb8FhS0g', alg: 'ES256', use: 'sig' },
      { kty: 'EC', crv: 'P-256', x: '9DVcNfQOIe1B0WmPdQZ-mzsdmwwc2XUWbBUEAgriShc', y: 'xYAeXscwPdeUbkXy1Pxt8GHsmuPE9XWaydlQFQ7UWjA', kid: 'hQGukHYQ94ZNua0gOijz4tcDdD5Q9UHfsH-XCxy616U', alg: 'ES256', use: 'sig' }
    ]
  }]
})

const wellKnownRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const base = fastify.config.PUBLIC_URL
  const clientAuthMethods = ['client_secret_basic', 'client_secret_post']
  const metadata = {
    issuer: base,
    token_endpoint: `${base}/oauth/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: [...GRANT_TYPES],
    // No authorization endpoint: no response types.
    response_types_supported: [],
    // `none` is the built-in public `default` client (password and refresh_token only).
    token_endpoint_auth_methods_supported: [...clientAuthMethods, 'none'],
    introspection_endpoint_auth_methods_supported: clientAuthMethods,
    revocation_endpoint_auth_methods_supported: clientAuthMethods,
    dpop_signing_alg_values_supported: [...fastify.dpop.algorithms],
    // What the verifier package needs to accept exactly the issuers the service does.
    ...(fastify.config.JWT_ISSUER !== base ? { jwt_issuer: fastify.config.JWT_ISSUER } : {}),
    ...issuerWindow(previousIssuers(fastify.config))
  }

  const { KEY_ROTATION_OVERLAP, KEY_RING_SYNC_INTERVAL_MS } = fastify.config
  // Shorter than the overlap: a cached JWKS always holds a new key before it signs.
  const jwksCacheControl = `public, max-age=${jwksMaxAge(KEY_ROTATION_OVERLAP, KEY_RING_SYNC_INTERVAL_MS)}`

  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['keys'],
      summary: 'Public signing keys (JWKS)',
      description: 'Every key that signs, will sign (published KEY_ROTATION_OVERLAP seconds ahead) or signed a ' +
        'token that has not expired yet. `Cache-Control: max-age` is shorter than the overlap.',
      response: { 200: Jwks }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', jwksCacheControl)
    return fastify.keyRing?.jwks() ?? { keys: [] }
  })

  fastify.get('/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['oauth'],
      summary: 'Authorization server metadata (RFC 8414)',
      description: 'Where OAuth clients find the token, introspection and revocation endpoints and the JWKS, and ' +
        'which grants and client authentication methods they accept. URLs are built from PUBLIC_URL. ' +
        '`Cache-Control: public, max-age=3600`.',
      response: { 200: ServerMetadata }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return metadata
  })

  fastify.get('/.well-known/ssf-configuration', {
    schema: {
      tags: ['ssf'],
      summary: 'Shared Signals transmitter metadata (SSF 1.0)',
      description: 'Where receivers find the stream endpoints, the JWKS that verifies SETs, the delivery methods (push ' +
        'RFC 8935, poll RFC 8936) and the authorization scheme (an OAuth client_credentials token with `ssf:manage`). ' +
        'URLs are built from PUBLIC_URL. 404 when Shared Signals are off (JWT_ALGORITHM=HS256). ' +
        '`Cache-Control: public, max-age=3600`.',
      response: {
        200: TransmitterMetadataSchema,
        ...errors({ 404: { description: 'Shared Signals are off (JWT_ALGORITHM=HS256)', error: 'not_found', message: SSF_OFF } })
      }
    }
  }, async (_request, reply) => {
    if (fastify.ssf === null) throw new AppError('not_found', SSF_OFF)
    reply.header('cache-control', 'public, max-age=3600')
    return fastify.ssf.metadata
  })
}

export default wellKnownRoutes
