// /admin: clients, sessions and signing keys, for access tokens with the
// `admin` role (enforced for the whole folder by ./autohooks.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientView } from '../../src/clients/clients.js'
import { AppError } from '../../src/errors.js'
import { keyRevocationView } from '../../src/keys/key-ring.js'
import { NoContent } from '../schemas.js'
import {
  ClientIdParams, ClientList, Client, ClientUpdateBody, guarded, KidParams, NewClientBody, NewClientResponse, RevokedKey, RotatedKey,
  SessionList, SidParams, UserIdParams
} from './schemas.js'
import { errors } from '../../plugins/schemas.js'

const tags = ['admin']
const security = [{ bearerAuth: [] }]
const badPath = (param: string) => ({
  400: { description: 'The path does not match the schema', error: 'invalid_request', message: `params/${param} must NOT have more than 128 characters` }
})
const notFound = (what: string) => ({
  404: { description: `No such ${what}`, error: 'not_found', message: `no such ${what}` }
})
const storeDown = { 503: 'The store is unreachable; nothing was written' }

const adminRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/admin/clients', {
    schema: {
      tags,
      security,
      summary: 'Create a client',
      description: 'A confidential client (the default) comes back with its `client_secret`, which is shown this ' +
        'once (only its argon2id hash is stored). A public client (`public: true`) has no secret: ' +
        '`client_secret` is null, and it may not have the `client_credentials` grant. Lifetime overrides may ' +
        'shorten, not lengthen, the service defaults.',
      body: NewClientBody,
      response: {
        201: NewClientResponse,
        ...errors({
          400: {
            description: 'The body does not match the schema, a lifetime exceeds the service default, or a public ' +
              'client asks for client_credentials',
            error: 'invalid_request',
            message: 'access_token_ttl must be between 1 and ACCESS_TOKEN_TTL (900)'
          },
          ...guarded,
          ...storeDown
        })
      }
    }
  }, async (request, reply) => {
    const body = request.body
    const { client, secret } = await fastify.clients.create({
      name: body.name,
      ...(body.public !== undefined ? { public: body.public } : {}),
      ...(body.grants !== undefined ? { grants: body.grants } : {}),
      ...(body.audiences !== undefined ? { audiences: body.audiences } : {}),
      ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
      ...(body.access_token_ttl !== undefined ? { accessTokenTtl: body.access_token_ttl } : {}),
      ...(body.refresh_token_ttl !== undefined ? { refreshTokenTtl: body.refresh_token_ttl } : {}),
      ...(body.dpop_bound_access_tokens !== undefined ? { dpopBoundAccessTokens: body.dpop_bound_access_tokens } : {})
    })
    request.log.info({ clientId: client.clientId, by: request.principal?.sub }, 'client created')
    return reply.code(201).send({ ...clientView(client), client_secret: secret })
  })

  fastify.get('/admin/clients', {
    schema: {
      tags,
      security,
      summary: 'List clients',
      description: 'Every client, disabled ones included, without secrets (only their hashes are stored).',
      response: { 200: ClientList, ...errors({ ...guarded, ...storeDown }) }
    }
  }, async () => ({ clients: (await fastify.clients.list()).map(clientView) }))

  fastify.patch('/admin/clients/:id', {
    schema: {
      tags,
      security,
      summary: 'Change a client\'s settings',
      description: '`dpop_bound_access_tokens: true` makes every token request of the client need a DPoP proof ' +
        '(RFC 9449 §5.2) from then on; tokens it already holds are not changed.',
      params: ClientIdParams,
      body: ClientUpdateBody,
      response: {
        200: Client,
        ...errors({ 400: 'The body or the path does not match the schema', ...guarded, ...notFound('client'), ...storeDown })
      }
    }
  }, async (request) => {
    const client = await fastify.clients.setDpopBound(request.params.id, request.body.dpop_bound_access_tokens)
    request.log.info({ clientId: client.clientId, by: request.principal?.sub, dpopBound: client.dpopBoundAccessTokens }, 'client updated')
    return clientView(client)
  })

  fastify.post('/admin/clients/:id/disable', {
    schema: {
      tags,
      security,
      summary: 'Disable a client',
      description: 'The client can no longer log in, refresh or get tokens, and every token it holds stops ' +
        'validating on every instance within about a second. Idempotent.',
      params: ClientIdParams,
      response: {
        200: Client,
        ...errors({ ...badPath('id'), ...guarded, ...notFound('client'), ...storeDown })
      }
    }
  }, async (request) => {
    const client = await fastify.clients.disable(request.params.id)
    request.log.info({ clientId: client.clientId, by: request.principal?.sub }, 'client disabled')
    return clientView(client)
  })

  fastify.get('/admin/users/:id/sessions', {
    schema: {
      tags,
      security,
      summary: 'List a user\'s live sessions',
      description: 'Sessions that have neither ended nor expired, newest first, with the client each was started ' +
        'for. End one with `DELETE /admin/sessions/{sid}`.',
      params: UserIdParams,
      response: {
        200: SessionList,
        ...errors({ ...badPath('id'), ...guarded, ...notFound('user'), ...storeDown })
      }
    }
  }, async (request) => {
    const sessions = await fastify.auth.listSessions(request.params.id)
    return {
      sessions: sessions.map((s) => ({
        sid: s.sid,
        client_id: s.clientId,
        created_at: s.createdAt.toISOString(),
        expires_at: s.expiresAt.toISOString(),
        absolute_expires_at: s.absoluteExpiresAt.toISOString()
      }))
    }
  })

  fastify.delete('/admin/sessions/:sid', {
    schema: {
      tags,
      security,
      summary: 'End a session',
      description: 'Its refresh token and every access token carrying its `sid` are refused from then on, on every ' +
        'instance within about a second. Idempotent for a known session.',
      params: SidParams,
      response: {
        204: NoContent,
        ...errors({ ...badPath('sid'), ...guarded, ...notFound('session'), ...storeDown })
      }
    }
  }, async (request, reply) => {
    const ended = await fastify.auth.endSession(request.params.sid, 'admin')
    if (!ended) throw new AppError('not_found', 'no such session')
    request.log.info({ sid: request.params.sid, by: request.principal?.sub }, 'session ended by an admin')
    return reply.code(204).send()
  })

  fastify.post('/admin/keys/rotate', {
    schema: {
      tags: ['keys'],
      security,
      summary: 'Rotate the signing key',
      description: 'Publishes the next key in the JWKS now; it signs from KEY_ROTATION_OVERLAP seconds later on ' +
        'every instance. The previous key stays published until every token it signed has expired. 409 with ' +
        'JWT_ALGORITHM=HS256.',
      response: {
        200: RotatedKey,
        ...errors({
          ...guarded,
          409: {
            description: 'conflict: JWT_ALGORITHM is HS256, there is no key ring',
            error: 'conflict',
            message: 'key rotation needs JWT_ALGORITHM ES256, EdDSA or RS256'
          },
          ...storeDown
        })
      }
    }
  }, async (request) => {
    const ring = fastify.keyRing
    if (ring === null) throw new AppError('conflict', 'key rotation needs JWT_ALGORITHM ES256, EdDSA or RS256')
    const key = await ring.rotate()
    request.log.info({ kid: key.kid, activatesAt: key.activatesAt, by: request.principal?.sub }, 'signing key rotated')
    return { kid: key.kid, alg: key.alg, published_at: key.createdAt.toISOString(), activates_at: key.activatesAt.toISOString() }
  })

  fastify.post('/admin/keys/:kid/revoke', {
    schema: {
      tags: ['keys'],
      security,
      summary: 'Revoke a signing key (a leaked private key)',
      description: 'Emergency revocation: the key leaves the JWKS at once, and every token it signed (its `kid` ' +
        'header) is refused as `revoked` by every instance and every verifier that follows the revocation feed ' +
        'within about a second. When it was the key that signed, a new key signs in its place at once, without ' +
        'the rotation overlap (verifiers fetch it as an unknown kid). Access tokens it signed, the caller\'s ' +
        'included, stop working: log in again. Refresh tokens are not signed by the key ring and keep working. ' +
        '404 for a kid that is unknown, expired or revoked already; 409 with JWT_ALGORITHM=HS256.',
      params: KidParams,
      response: {
        200: RevokedKey,
        ...errors({
          ...badPath('kid'),
          ...guarded,
          404: { description: 'No such signing key: unknown, expired or revoked already', error: 'not_found', message: 'no such signing key (unknown, expired or revoked already)' },
          409: {
            description: 'conflict: JWT_ALGORITHM is HS256, there is no key ring',
            error: 'conflict',
            message: 'key revocation needs JWT_ALGORITHM ES256, EdDSA or RS256'
          },
          ...storeDown
        })
      }
    }
  }, async (request) => {
    const ring = fastify.keyRing
    if (ring === null) throw new AppError('conflict', 'key revocation needs JWT_ALGORITHM ES256, EdDSA or RS256')
    const revoked = await ring.revoke(request.params.kid)
    request.log.warn({ kid: revoked.key.kid, replacement: revoked.replacement?.kid ?? null, by: request.principal?.sub }, 'signing key revoked')
    return keyRevocationView(revoked)
  })
}

export default adminRoutes
