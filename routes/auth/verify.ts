// /auth/verify: the gateway endpoint (nginx auth_request, Traefik forwardAuth,
// Envoy ext_authz). Any method; the access token comes in `Authorization`,
// the identity goes out in X-Auth-* headers with an empty body.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../src/errors.js'
import { bearerToken } from '../../src/bearer.js'
import { errors, NoContent } from '../schemas.js'

/** Printable ASCII only: nothing from a token can end a header line or smuggle another header. */
const SAFE_HEADER_VALUE = /^[\x20-\x7e]{0,2048}$/

const VerifyQuery = Type.Object({
  scope: Type.Optional(Type.String({
    maxLength: 1024,
    description: 'Space-separated scopes the token must all have',
    examples: ['orders:read orders:write']
  }))
})

function hasScopes (granted: string, required: string): boolean {
  const have = new Set(granted.split(' '))
  return required.split(' ').every((s) => s === '' || have.has(s))
}

const verifyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { tokens, revocations } = fastify

  fastify.all('/verify', {
    schema: {
      tags: ['gateway'],
      summary: 'Verify the bearer token of a proxied request',
      description: 'For gateway auth subrequests. 200 with `X-Auth-Subject`, `X-Auth-Session`, `X-Auth-Client` ' +
        'and `X-Auth-Scope` headers and an empty body; 401 with `WWW-Authenticate: Bearer error="invalid_token"`; ' +
        '403 `insufficient_scope` when `?scope=` asks for scopes the token lacks.',
      security: [{ bearerAuth: [] }],
      querystring: VerifyQuery,
      response: {
        200: {
          ...NoContent,
          description: 'The token is valid',
          headers: {
            'x-auth-subject': { type: 'string', description: 'sub: user id, or client id for service tokens' },
            'x-auth-session': { type: 'string', description: 'sid (empty for service tokens)' },
            'x-auth-client': { type: 'string', description: 'client_id' },
            'x-auth-scope': { type: 'string', description: 'scope, space-separated' }
          }
        },
        ...errors({
          400: { description: 'The query does not match the schema', error: 'invalid_request', message: 'querystring/scope must NOT have more than 1024 characters' },
          401: 'The bearer token is missing, malformed, invalid, expired or revoked',
          403: { description: 'The token lacks a scope asked for in `?scope=`', error: 'insufficient_scope', message: 'the access token lacks a required scope' }
        })
      }
    }
  }, async (request, reply) => {
    const token = bearerToken(request.headers.authorization)
    if (token === null) throw new AppError('invalid_token', 'a bearer access token is required')
    const verified = tokens.verifyAccess(token)
    if (!verified.ok) throw new AppError('invalid_token', `the access token is not valid (${verified.error})`)
    const claims = verified.claims
    if (revocations.isRevoked(claims.jti, claims.sid)) {
      throw new AppError('invalid_token', 'the access token is not valid (revoked)')
    }
    const sid = claims.sid ?? ''
    if (!SAFE_HEADER_VALUE.test(claims.sub) || !SAFE_HEADER_VALUE.test(sid) ||
      !SAFE_HEADER_VALUE.test(claims.client_id) || !SAFE_HEADER_VALUE.test(claims.scope)) {
      throw new AppError('invalid_token', 'the access token carries values that cannot be forwarded')
    }
    const required = request.query.scope
    if (required !== undefined && !hasScopes(claims.scope, required)) {
      throw new AppError('insufficient_scope', 'the access token lacks a required scope')
    }
    return reply.headers({
      'x-auth-subject': claims.sub,
      'x-auth-session': sid,
      'x-auth-client': claims.client_id,
      'x-auth-scope': claims.scope
    }).code(200).send()
  })
}

export default verifyRoutes
