// /auth: the original service's endpoints (register, login, refresh, logout). Credential routes are rate limited
// per client IP; every answer is `Cache-Control: no-store`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  LoginBody, LoginResponse, NoContent, RefreshTokenBody, RegisterBody, TokenPairResponse, UserResponse
} from '../schemas.js'
import { errors } from '../../plugins/schemas.js'

const tags = ['auth']
const storeDown = { 503: 'The store is unreachable; nothing was written' }
/** A credential route also answers 503 when the shared rate-limit counters (Redis) cannot count it. */
const credentialsDown = {
  503: '`store_unavailable`: the store is unreachable; or `rate_limit_unavailable`: Redis, where the rate limits ' +
    'count (REDIS_URL), is down or too slow, so the request was refused before any password check. Nothing was written'
}
const badRequest = { 400: 'The body does not match the schema' }
const limited = { 429: 'Too many requests from this client IP (see `Retry-After`)' }
const badGrant = (description: string) => ({
  401: { description, error: 'invalid_grant', message: 'the refresh token is invalid, expired or revoked' }
})

const authRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/register', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Create a user',
      description: 'Usernames are stored lower-cased and are unique; the password is stored as an argon2id hash. ' +
        'Closed (403 `registration_closed`) when ALLOW_REGISTRATION=false. Rate limited per client IP (RATE_LIMIT_AUTH).',
      body: RegisterBody,
      response: {
        201: UserResponse,
        ...errors({
          ...badRequest,
          403: { description: 'Registration is closed', error: 'registration_closed', message: 'registration is closed' },
          409: { description: 'The username is taken', error: 'username_taken', message: 'that username is already taken' },
          ...limited,
          ...credentialsDown
        })
      }
    }
  }, async (request, reply) => {
    const user = await fastify.auth.register(request.body.username, request.body.password)
    return reply.code(201).send(user)
  })

  fastify.post('/auth/login', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Log in with username and password',
      description: 'Starts a session and returns an access token, and a refresh token when the client has the ' +
        '`refresh_token` grant. `client_id` may name only a public client (no secret) with the `password` grant; ' +
        'any other client_id (unknown, disabled, confidential, or without that grant) is 401 `invalid_client`, ' +
        'checked before the password. Unknown users and wrong passwords get the same answer. LOCKOUT_THRESHOLD ' +
        'failures in a row lock the account for LOCKOUT_SECONDS (429 with `Retry-After`). Rate limited per client ' +
        'IP (RATE_LIMIT_AUTH).',
      body: LoginBody,
      response: {
        200: LoginResponse,
        ...errors({
          ...badRequest,
          401: {
            description: '`invalid_credentials`: unknown user or wrong password (the same answer for both); ' +
              '`invalid_client`: `client_id` names no enabled public client with the password grant',
            error: 'invalid_credentials',
            message: 'invalid username or password'
          },
          429: {
            description: 'Too many requests from this client IP, or the account is locked (see `Retry-After`)',
            error: 'too_many_requests',
            message: 'too many failed logins for this account, try again later'
          },
          ...credentialsDown
        })
      }
    }
  }, async (request, reply) => {
    const { username, password, client_id: clientId } = request.body
    const jkt = await fastify.dpopTokenRequest(request, reply)
    return fastify.auth.login(username, password, clientId, fastify.clientAddress(request), jkt)
  })

  fastify.post('/auth/refresh', {
    onRequest: fastify.credentialRateLimit,
    schema: {
      tags,
      summary: 'Exchange a refresh token for a new pair (rotation)',
      description: 'Every refresh rotates. Presenting a refresh token that was already rotated ends the whole ' +
        'session, unless it is a repeat within REFRESH_REUSE_INTERVAL, which returns the same pair. Only refresh ' +
        'tokens of public clients (the default client included) rotate here: a confidential client\'s answer ' +
        '`invalid_grant` and its session goes on (it refreshes at /oauth/token with its secret). ' +
        'Rate limited per client IP (RATE_LIMIT_AUTH).',
      body: RefreshTokenBody,
      response: {
        200: TokenPairResponse,
        ...errors({ ...badRequest, ...badGrant('The refresh token is invalid, expired, revoked or reused'), ...limited, ...credentialsDown })
      }
    }
  }, async (request, reply) => {
    const jkt = await fastify.dpopTokenRequest(request, reply)
    return fastify.auth.refresh(request.body.refresh_token, undefined, undefined, jkt)
  })

  fastify.post('/auth/logout', {
    schema: {
      tags,
      summary: 'End the session of a refresh token',
      description: 'Its refresh token and every access token of the session are refused from then on. Idempotent. ' +
        'A DPoP-bound session (logged in with a `DPoP` proof) ends only with a proof from the same key.',
      body: RefreshTokenBody,
      response: {
        204: NoContent,
        ...errors({
          400: {
            description: 'The body does not match the schema, or the session is DPoP-bound and the request has no proof from its key',
            error: 'invalid_dpop_proof',
            message: 'the refresh token is DPoP-bound: log out with a DPoP proof from its key'
          },
          ...badGrant('Not a refresh token of this service'),
          ...storeDown
        })
      }
    }
  }, async (request, reply) => {
    const jkt = await fastify.dpopTokenRequest(request, reply)
    await fastify.auth.logout(request.body.refresh_token, jkt)
    return reply.code(204).send()
  })

  fastify.post('/auth/logout-all', {
    preHandler: fastify.authenticate,
    schema: {
      tags,
      summary: 'End every session of the current user',
      description: 'Needs the user\'s own access token from a first-party login (the `default` client, not ' +
        'exchanged). Every session of that user ends: its refresh tokens and access tokens, even those whose ' +
        'session has since been swept, are refused from then on, on every instance within about a second.',
      security: [{ bearerAuth: [] }],
      response: {
        204: NoContent,
        ...errors({
          401: 'Missing, invalid or revoked access token (with `WWW-Authenticate: Bearer`)',
          403: {
            description: 'The token is not a first-party login\'s: issued to another client than `default`, by token ' +
              'exchange, or a service token. Such a token acts for another party and cannot end the user\'s sessions.',
            error: 'forbidden',
            message: 'logout-all takes only a first-party login\'s token (client default)'
          },
          ...storeDown
        })
      }
    }
  }, async (request, reply) => {
    await fastify.auth.logoutAllWith(request.principal!)
    return reply.code(204).send()
  })
}

export default authRoutes
