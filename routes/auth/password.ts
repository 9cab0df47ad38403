// POST /auth/password: a user changes their own password with their access
// token and the current password. Every other session of the user ends; the
// one that made the change continues. Rate limited like the other credential routes.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../src/errors.js'
import { errors } from '../../plugins/schemas.js'
import { NewPassword, NoContent, Password } from '../schemas.js'

const EXAMPLE_CURRENT = 'correct horse battery staple'
const EXAMPLE_NEW = 'a brand new passphrase for alice'

export const PasswordChangeBody = Type.Object({
  current_password: Password,
  new_password: NewPassword
}, {
  additionalProperties: false,
  examples: [{ current_password: EXAMPLE_CURRENT, new_password: EXAMPLE_NEW }]
})

const passwordRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/password', {
    onRequest: fastify.credentialRateLimit,
    preHandler: fastify.authenticate,
    schema: {
      tags: ['auth'],
      summary: 'Change the current user\'s password',
      description: 'Needs the user\'s own access token (not a service token, not an exchanged one) and the current ' +
        'password. A wrong current password counts toward the account lockout like a failed login. The new password ' +
        'follows the registration rule (8-256 characters). Every other session of the user ends, on every instance ' +
        'within about a second; the session of this access token continues. Rate limited per client IP (RATE_LIMIT_AUTH, the budget shared by every credential route).',
      security: [{ bearerAuth: [] }],
      body: PasswordChangeBody,
      response: {
        204: NoContent,
        ...errors({
          400: 'The body does not match the schema (the new password must be 8-256 characters)',
          401: {
            description: '`invalid_token`: missing, invalid or revoked access token (with `WWW-Authenticate: Bearer`); ' +
              '`invalid_credentials`: the current password is wrong',
            error: 'invalid_credentials',
            message: 'the current password is wrong'
          },
          403: {
            description: 'The token is not a user\'s own session token (a service token or an exchanged token)',
            error: 'forbidden',
            message: 'a user\'s own access token is required'
          },
          429: {
            description: 'Too many requests from this client IP, or the account is locked after failed attempts (see `Retry-After`)',
            error: 'too_many_requests',
            message: 'too many failed attempts for this account, try again later'
          },
          503: 'The store is unreachable; the password is unchanged, or changed with every other session ended'
        })
      }
    }
  }, async (request, reply) => {
    const principal = request.principal!
    // A delegated (exchanged) token acts for another party, and a service token has no user or session.
    if (principal.sid === undefined || principal.act !== undefined) {
      throw new AppError('forbidden', 'a user\'s own access token is required')
    }
    await fastify.accounts.changePassword(principal.sub, principal.sid, request.body.current_password, request.body.new_password, fastify.clientAddress(request))
    request.log.info({ userId: principal.sub }, 'password changed')
    return reply.code(204).send()
  })
}

export default passwordRoutes
