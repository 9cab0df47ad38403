// /auth: the original service's endpoints (register, login, refresh, logout). Credential routes are rate limited
// per client IP; every answer is `Cache-Control: no-store`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  errors, LoginBody, NoContent, RefreshTokenBody, RegisterBody, TokenPairResponse, UserResponse
} from '../schemas.js'

const tags = ['auth']
const storeDown = { 503: 'The store is unreachable; nothing was written' }
const badRequest = { 400: 'The body does not match the schema' }
const limited = { 429: 'Too many requests from this client IP (see Retry-After)' }

const authRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const rateLimit = { max: fastify.config.RATE_LIMIT_AUTH, timeWindow: 60_000 }
  fastify.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  fastify.post('/register', {
    config: { rateLimit },
    schema: {
      tags,
      summary: 'Create a user',
      description: 'Usernames are stored lower-cased and are unique. Closed when ALLOW_REGISTRATION=false.',
      body: RegisterBody,
      response: {
        201: UserResponse,
        ...errors({ ...badRequest, 403: 'Registration is closed', 409: 'The username is taken', ...limited, ...storeDown })
      }
    }
  }, async (request, reply) => {
    const user = await fastify.auth.register(request.body.username, request.body.password)
    return reply.code(201).send(user)
  })

  fastify.post('/login', {
    config: { rateLimit },
    schema: {
      tags,
      summary: 'Log in with username and password',
      description: 'Starts a session and returns an access token and a refresh token. Unknown users and wrong ' +
        'passwords get the same answer. Repeated failures lock the account for LOCKOUT_SECONDS.',
      body: LoginBody,
      response: {
        200: TokenPairResponse,
        ...errors({ ...badRequest, 401: 'Invalid username or password', ...limited, ...storeDown })
      }
    }
  }, async (request) => {
    const { username, password, client_id: clientId } = request.body
    return fastify.auth.login(username, password, clientId)
  })

  fastify.post('/refresh', {
    config: { rateLimit },
    schema: {
      tags,
      summary: 'Exchange a refresh token for a new pair (rotation)',
      description: 'Every refresh rotates. Presenting a refresh token that was already rotated ends the whole ' +
        'session, unless it is a repeat within REFRESH_REUSE_INTERVAL, which returns the same pair.',
      body: RefreshTokenBody,
      response: {
        200: TokenPairResponse,
        ...errors({ ...badRequest, 401: 'invalid_grant: invalid, expired, revoked or reused refresh token', ...limited, ...storeDown })
      }
    }
  }, async (request) => fastify.auth.refresh(request.body.refresh_token))

  fastify.post('/logout', {
    schema: {
      tags,
      summary: 'End the session of a refresh token',
      description: 'Its refresh token and every access token of the session are refused from then on. Idempotent.',
      body: RefreshTokenBody,
      response: {
        204: NoContent,
        ...errors({ ...badRequest, 401: 'invalid_grant: not a refresh token of this service', ...storeDown })
      }
    }
  }, async (request, reply) => {
    await fastify.auth.logout(request.body.refresh_token)
    return reply.code(204).send()
  })

  fastify.post('/logout-all', {
    preHandler: fastify.authenticate,
    schema: {
      tags,
      summary: 'End every session of the current user',
      security: [{ bearerAuth: [] }],
      response: {
        204: NoContent,
        ...errors({ 401: 'invalid_token: missing, invalid or revoked access token', ...storeDown })
      }
    }
  }, async (request, reply) => {
    await fastify.auth.logoutAll(request.principal!.sub)
    return reply.code(204).send()
  })
}

export default authRoutes
