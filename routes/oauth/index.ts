// /oauth: RFC 6749 token endpoint, RFC 7662 introspection, RFC 7009 revocation.
// Bodies may be application/x-www-form-urlencoded (what OAuth clients send) or
// JSON (./autohooks.ts parses the form bodies for this folder only). Errors in
// this folder are RFC 6749 §5.2 `{error, error_description}` (./autohooks.ts
// marks each route, plugins/error-handler.ts writes them), deliberately unlike
// the service's `{error, message}`, because OAuth client libraries parse that shape.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { presentedClient } from '../../src/oauth/client-auth.js'
import { NoContent } from '../schemas.js'
import { IntrospectionResponse, TokenParamBody, TokenRequestBody, TokenResponse } from './schemas.js'
import { oauthErrors } from '../../plugins/schemas.js'

const tags = ['oauth']

/** The 401 of the endpoints where client authentication is required (introspect, revoke). */
const clientAuthRequired = {
  description: '`invalid_client`: no client authentication, an unknown or disabled client, or a wrong ' +
    'secret (with `WWW-Authenticate: Basic` when HTTP Basic was used)',
  error: 'invalid_client',
  error_description: 'client authentication is required'
}
const clientAuth = [{ clientBasic: [] }]
const throttled = {
  429: {
    description: '`too_many_requests`: too many requests from this client IP (RATE_LIMIT_AUTH), or too many failed ' +
      'authentications of this client_id from this IP (see `Retry-After`)',
    error: 'too_many_requests',
    error_description: 'too many failed client authentications, try again later'
  }
}

const oauthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/token', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Token endpoint (RFC 6749)',
      description: 'Grants `password`, `refresh_token` (same rotation and reuse rules as /auth/refresh) and ' +
        '`client_credentials` (sub = client_id, no refresh token, scope = the requested scopes, all of which the ' +
        'client must be allowed), and RFC 8693 token exchange (`urn:ietf:params:oauth:grant-type:token-exchange`, ' +
        'confidential clients with that grant): `subject_token` is a user\'s access token of this service ' +
        '(`subject_token_type` `urn:ietf:params:oauth:token-type:access_token`); `audience` one of the client\'s ' +
        'audiences; `scope` within both the subject token\'s and the client\'s. The new access token keeps `sub` and ' +
        '`sid`, carries `act: {sub: <client_id>}` (nested on re-exchange), expires no later than the subject token, ' +
        'and comes without a refresh token, with `issued_token_type`. Client authentication by HTTP Basic (id and secret form-urlencoded) or ' +
        '`client_id` / `client_secret` in the body; the built-in `default` client is public (no secret) and may ' +
        'use `password` and `refresh_token`. Form-encoded or JSON body. Errors are RFC 6749 §5.2 ' +
        '`{error, error_description}`.',
      security: [{ clientBasic: [] }, {}],
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenRequestBody,
      response: {
        200: TokenResponse,
        ...oauthErrors({
          400: {
            description: '`invalid_request` (missing parameter, body not form or JSON, several client authentication ' +
              'methods), `invalid_grant` (wrong username or password; bad, expired, revoked or reused refresh token), ' +
              '`unauthorized_client` (grant not allowed for this client), `unsupported_grant_type`, `invalid_scope`, ' +
              'or for token exchange `invalid_grant` (subject token invalid, expired or revoked) and `invalid_target` ' +
              '(audience not among the client\'s)',
            error: 'invalid_grant',
            error_description: 'invalid username or password'
          },
          401: {
            description: '`invalid_client`: unknown or disabled client, wrong secret, or a confidential client without ' +
              'its secret (with `WWW-Authenticate: Basic` when HTTP Basic was used)',
            error: 'invalid_client',
            error_description: 'client authentication failed'
          },
          429: {
            description: '`too_many_requests`: too many requests from this client IP (RATE_LIMIT_AUTH), the ' +
              'account is locked after failed password grants, or too many failed authentications of this ' +
              'client_id (see `Retry-After`)',
            error: 'too_many_requests',
            error_description: 'rate limit exceeded, retry in 42 s'
          },
          503: '`temporarily_unavailable`: the store is unreachable; nothing was issued'
        })
      }
    }
  }, async (request) => {
    const body = request.body
    const presented = presentedClient(request.headers.authorization, body, fastify.clientAddress(request))
    return fastify.oauth.token(body, presented, fastify.clientAddress(request))
  })

  fastify.post('/oauth/introspect', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Token introspection (RFC 7662)',
      description: 'Client authentication required. A client introspects the tokens issued to it (their ' +
        '`client_id` is its own); every token only with the client scope `tokens:introspect`. An active access ' +
        'token answers `{active: true, ...claims, token_type: "Bearer"}`, an active refresh token `{active: true, ' +
        '..., token_type: "refresh_token"}`; anything else, another client\'s token included, exactly ' +
        '`{"active": false}`.',
      security: clientAuth,
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenParamBody,
      response: {
        200: IntrospectionResponse,
        ...oauthErrors({
          400: '`invalid_request`: no `token`, a body that is neither form nor JSON, or several client ' +
            'authentication methods',
          401: clientAuthRequired,
          ...throttled,
          503: '`temporarily_unavailable`: the store is unreachable'
        })
      }
    }
  }, async (request) => {
    const body = request.body
    const presented = presentedClient(request.headers.authorization, body, fastify.clientAddress(request))
    return fastify.oauth.introspect(body.token, body.token_type_hint, presented)
  })

  fastify.post('/oauth/revoke', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Token revocation (RFC 7009)',
      description: 'Client authentication required. Revokes an access token (by jti) or a refresh token (its whole ' +
        'session) issued to the calling client. Unknown, invalid or expired tokens, and tokens of other clients, ' +
        'answer 200 without effect.',
      security: clientAuth,
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenParamBody,
      response: {
        200: { ...NoContent, description: 'Revoked, or nothing to revoke (RFC 7009 §2.2: an empty body)' },
        ...oauthErrors({
          400: '`invalid_request`: no `token`, a body that is neither form nor JSON, or several client ' +
            'authentication methods',
          401: clientAuthRequired,
          ...throttled,
          503: '`temporarily_unavailable`: the store is unreachable; nothing was revoked'
        })
      }
    }
  }, async (request, reply) => {
    const body = request.body
    const presented = presentedClient(request.headers.authorization, body, fastify.clientAddress(request))
    await fastify.oauth.revoke(body.token, body.token_type_hint, presented)
    return reply.code(200).send()
  })
}

export default oauthRoutes
