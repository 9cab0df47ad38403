// /auth/verify: the gateway endpoint (nginx auth_request, Traefik forwardAuth,
// Envoy ext_authz). Any method; the access token comes in `Authorization`,
// the identity goes out in X-Auth-* headers with an empty body.
//
// The 401 and 403 answers are sent directly rather than thrown: a gateway asks
// for every proxied request, and a flood of bad tokens should cost no more
// than a good one (no Error object and stack per request).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { bearerToken, hasScopes } from '@token-orchestrator/verifier/rules'
import { verifyLiveAccess, type AccessClaims } from '../../../src/tokens/tokens.js'
import { errors } from '../../../plugins/schemas.js'
import { NoContent, VerifyQuery } from '../../schemas.js'

/** Printable ASCII only: nothing from a token can end a header line or smuggle another header. */
const SAFE_HEADER_VALUE = /^[\x20-\x7e]{0,2048}$/

type IdentityHeaders = Record<'x-auth-subject' | 'x-auth-session' | 'x-auth-client' | 'x-auth-scope', string>

/** The X-Auth-* headers for a token's claims, or null when a value cannot be forwarded. */
function identityHeaders (claims: AccessClaims): IdentityHeaders | null {
  const sid = claims.sid ?? ''
  if (!SAFE_HEADER_VALUE.test(claims.sub) || !SAFE_HEADER_VALUE.test(sid) ||
    !SAFE_HEADER_VALUE.test(claims.client_id) || !SAFE_HEADER_VALUE.test(claims.scope)) return null
  return { 'x-auth-subject': claims.sub, 'x-auth-session': sid, 'x-auth-client': claims.client_id, 'x-auth-scope': claims.scope }
}

function hasAudience (aud: string | string[], required: string): boolean {
  return typeof aud === 'string' ? aud === required : aud.includes(required)
}

function invalidToken (reply: FastifyReply, message: string): FastifyReply {
  return reply.code(401)
    .header('www-authenticate', 'Bearer error="invalid_token"')
    .send({ error: 'invalid_token', message })
}

const verifyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { tokens, revocations } = fastify
  const count = fastify.serviceMetrics.validation
  // A token answered from the verified-token cache comes back with the same
  // claims object each time: its headers are checked and built once.
  const headersOf = new WeakMap<AccessClaims, IdentityHeaders | null>()

  // /auth/verify itself, and /auth/verify/<anything> for gateways that append the
  // original request path to the check's path (Envoy ext_authz `path_prefix`).
  // Every method answers the same; the OpenAPI document shows the check once,
  // as GET (described as "any method"), rather than one operation per method.
  const anyMethod = 'Any method (GET, POST, PUT, DELETE, PATCH, OPTIONS, ...): gateways forward the proxied ' +
    'request\'s method. '
  const otherMethods = fastify.supportedMethods.filter((m) => m !== 'GET' && m !== 'HEAD')
  const variants = [
    {
      url: '/auth/verify',
      method: ['GET'],
      hide: false,
      summary: 'Verify the bearer token of a proxied request (any method)',
      description: anyMethod + 'For gateway auth subrequests. 200 with `X-Auth-Subject`, `X-Auth-Session`, `X-Auth-Client` ' +
        'and `X-Auth-Scope` headers and an empty body; 401 with `WWW-Authenticate: Bearer error="invalid_token"` ' +
        '(also when `?audience=` names an audience the token\'s `aud` does not contain); ' +
        '403 `insufficient_scope` when `?scope=` asks for scopes the token lacks; 403 `forbidden` when `?role=` names ' +
        'a role its `roles` claim lacks.'
    },
    {
      url: '/auth/verify',
      method: otherMethods,
      // The same operation as GET above: documented once.
      hide: true,
      summary: 'Verify the bearer token of a proxied request (any method)',
      description: 'The same check as `GET /auth/verify`.'
    },
    {
      url: '/auth/verify/*',
      method: fastify.supportedMethods,
      // Not in the OpenAPI document: a wildcard path is no valid OpenAPI path; docs/gateways.md describes it.
      hide: true,
      summary: 'Verify the bearer token of a proxied request (original path appended)',
      description: 'The same check as `/auth/verify`, for gateways that append the proxied request\'s path to the ' +
        'check\'s path (Envoy ext_authz with `path_prefix: /auth/verify`). The appended path is ignored.'
    }
  ]
  for (const variant of variants) {
    fastify.route({
      method: variant.method,
      url: variant.url,
      schema: {
        hide: variant.hide,
        tags: ['gateway'],
        summary: variant.summary,
        description: variant.description,
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
            401: 'The bearer token is missing, malformed, invalid, expired or revoked, or not meant for `?audience=`',
            403: {
              description: 'The token lacks a scope asked for in `?scope=` (`insufficient_scope`), or the role asked for in `?role=` (`forbidden`)',
              error: 'insufficient_scope',
              message: 'the access token lacks a required scope'
            }
          })
        }
      },
      handler: async (request, reply) => {
        const token = bearerToken(request.headers.authorization)
        if (token === null) return invalidToken(reply, 'a bearer access token is required')
        const verified = verifyLiveAccess(tokens, revocations, token)
        if (!verified.ok) {
          count(verified.error)
          return invalidToken(reply, `the access token is not valid (${verified.error})`)
        }
        const claims = verified.claims
        let identity = headersOf.get(claims)
        if (identity === undefined) {
          identity = identityHeaders(claims)
          headersOf.set(claims, identity)
        }
        if (identity === null) {
          count('invalid_claims')
          return invalidToken(reply, 'the access token carries values that cannot be forwarded')
        }
        // A token minted for another API must not pass the gateway of this one.
        const audience = request.query.audience
        if (audience !== undefined && !hasAudience(claims.aud, audience)) {
          count('invalid_claims')
          return invalidToken(reply, 'the access token is not meant for this audience')
        }
        count('valid')
        const required = request.query.scope
        if (required !== undefined && !hasScopes(claims.scope, required)) {
          return reply.code(403)
            .header('www-authenticate', 'Bearer error="insufficient_scope"')
            .send({ error: 'insufficient_scope', message: 'the access token lacks a required scope' })
        }
        // Roles are a claim of the token (a role taken away ends the user's sessions, so the claim cannot outlive it).
        const role = request.query.role
        if (role !== undefined && !claims.roles.includes(role)) {
          return reply.code(403).send({ error: 'forbidden', message: 'the access token lacks the required role' })
        }
        return reply.headers(identity).code(200).send()
      }
    })
  }
}

export default verifyRoutes
