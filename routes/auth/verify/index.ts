// /auth/verify: the gateway endpoint (nginx auth_request, Traefik forwardAuth,
// Envoy ext_authz). Any method; the access token comes in `Authorization`,
// the identity goes out in X-Auth-* headers with an empty body.
//
// The 401 and 403 answers are sent directly rather than thrown: a gateway asks
// for every proxied request, and a flood of bad tokens should cost no more
// than a good one (no Error object and stack per request).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorizationToken } from '@token-orchestrator/verifier/dpop'
import { bearerToken, hasScopes } from '@token-orchestrator/verifier/rules'
import type { AccessClaims } from '../../../src/tokens/tokens.js'
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

function invalidToken (reply: FastifyReply, message: string, challenge = 'Bearer error="invalid_token"'): FastifyReply {
  return reply.code(401)
    .header('www-authenticate', challenge)
    .send({ error: 'invalid_token', message })
}

function header (request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** A host as a URL authority may carry it: no path, query, fragment, userinfo or whitespace. */
const HOST = /^[A-Za-z0-9.:[\]-]+$/
const HTTP_SCHEME = /^https?$/i

/** An absolute http(s) URL whose authority is a plain host, or undefined. */
function absoluteUrl (value: string): string | undefined {
  const match = /^(https?):\/\/([^/?#]*)/i.exec(value)
  return match !== null && HOST.test(match[2]!) ? value : undefined
}

/**
 * The method and URL of the request the gateway is checking, which a DPoP
 * proof's htm and htu must name. They come from one complete set of headers,
 * never a mix (a gateway sets its own set and may pass others through from
 * the client):
 * - nginx: X-Original-Method and X-Original-URL (absolute);
 * - Traefik: X-Forwarded-Method, -Proto, -Host and -Uri;
 * - Envoy: on /auth/verify/<path>, this request's method and the appended
 *   path on its Host, with X-Forwarded-Proto (http by default).
 * A string says what is missing or malformed.
 */
function originalRequest (request: FastifyRequest): { method: string, url: string } | string {
  const originalMethod = header(request, 'x-original-method')
  const originalUrl = header(request, 'x-original-url')
  if (originalMethod !== undefined || originalUrl !== undefined) {
    if (originalMethod === undefined || originalUrl === undefined) return 'the gateway forwarded only one of X-Original-Method and X-Original-URL'
    const url = absoluteUrl(originalUrl)
    return url === undefined ? 'X-Original-URL is not an absolute http(s) URL' : { method: originalMethod, url }
  }
  const forwarded = ['x-forwarded-method', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri'].map((name) => header(request, name))
  const [method, proto, host, uri] = forwarded
  if (method !== undefined || uri !== undefined) {
    if (forwarded.includes(undefined)) return 'the gateway forwarded only some of X-Forwarded-Method, -Proto, -Host and -Uri'
    if (!HOST.test(host!) || !HTTP_SCHEME.test(proto!) || !uri!.startsWith('/')) return 'the X-Forwarded-Proto, -Host or -Uri header is malformed'
    return { method: method!, url: `${proto!}://${host!}${uri!}` }
  }
  if (request.url.startsWith('/auth/verify/')) {
    const own = header(request, 'host')
    const scheme = proto ?? 'http'
    const path = request.url.slice('/auth/verify'.length)
    if (own === undefined || !HOST.test(own) || !HTTP_SCHEME.test(scheme)) return 'the Host or X-Forwarded-Proto header is malformed'
    return { method: request.method, url: `${scheme}://${own}${path}` }
  }
  return 'the gateway did not forward the original method and URL (X-Original-Method, X-Original-URL)'
}

const verifyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { liveAccess, dpop } = fastify
  const count = fastify.serviceMetrics.validation

  /**
   * A DPoP-bound token, or the DPoP scheme: the proof the client sent with the
   * proxied request, checked against that request. null when it holds.
   */
  const dpopRefusal = async (request: FastifyRequest, reply: FastifyReply, scheme: 'Bearer' | 'DPoP', token: string, claims: AccessClaims): Promise<FastifyReply | null> => {
    const refuse = (error: 'invalid_token' | 'invalid_dpop_proof', message: string): FastifyReply => {
      count(error === 'invalid_token' ? 'invalid_claims' : 'invalid_dpop_proof')
      return reply.code(401).header('www-authenticate', dpop.challenge(error)).send({ error, message })
    }
    if (claims.cnf === undefined) return refuse('invalid_token', 'the access token is not DPoP-bound: send it as a Bearer token')
    if (scheme !== 'DPoP') return refuse('invalid_token', 'the access token is DPoP-bound: send it as `Authorization: DPoP` with a DPoP proof')
    const original = originalRequest(request)
    if (typeof original === 'string') return refuse('invalid_dpop_proof', original)
    if (request.headers.dpop !== undefined) liveAccess.beforeProof(token, request)
    const result = await dpop.forwarded(claims.cnf, token, { proof: request.headers.dpop, ...original })
    if (result !== null && !result.ok) {
      liveAccess.proofFailed(request)
      return refuse('invalid_dpop_proof', result.message)
    }
    return null
  }
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
            },
            429: {
              description: 'This address spent its RATE_LIMIT_FAILED_VERIFICATIONS failed verifications (forged signatures, DPoP proofs that do not hold) for this second, and the token needs a check (with `Retry-After`)',
              error: 'too_many_requests',
              message: 'too many failed verifications from this address, retry in 1 s'
            }
          })
        }
      },
      handler: async (request, reply) => {
        let token = bearerToken(request.headers.authorization)
        let scheme: 'Bearer' | 'DPoP' = 'Bearer'
        if (token === null) {
          const presented = authorizationToken(request.headers.authorization)
          if (presented === null) return invalidToken(reply, 'a bearer access token is required')
          token = presented.token
          scheme = presented.scheme
        }
        // 429 when this address spent its failed verifications for this second and the token needs a check.
        const verified = liveAccess.verify(token, request)
        if (!verified.ok) {
          count(verified.error)
          const message = `the access token is not valid (${verified.error})`
          return scheme === 'DPoP' ? invalidToken(reply, message, dpop.challenge('invalid_token')) : invalidToken(reply, message)
        }
        const claims = verified.claims
        if (claims.cnf !== undefined || scheme === 'DPoP') {
          const refused = await dpopRefusal(request, reply, scheme, token, claims)
          if (refused !== null) return refused
        }
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
