// /admin/users: look up a user, disable and enable the account, set its roles,
// reset its password. Guarded, as every file of this folder, by ./autohooks.ts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../plugins/schemas.js'
import { MAX_ROLES, ROLE_NAME_PATTERN } from '../../src/auth/accounts.js'
import { NewPassword, NoContent, Username } from '../schemas.js'
import { guarded, UserIdParams } from './schemas.js'

const EXAMPLE_USER = {
  id: '6f1c2a0e-8d4b-4c55-9a51-0c3f3f2b8e11',
  username: 'alice@example.com',
  roles: ['admin'],
  disabled: false,
  created_at: '2026-11-20T14:03:09.118Z',
  locked_until: null
}

const Role = Type.String({ minLength: 1, maxLength: 64, pattern: ROLE_NAME_PATTERN, examples: ['admin'] })

export const User = Type.Object({
  id: Type.String({ description: 'User id (the `sub` of its tokens)' }),
  username: Type.String({ description: 'Lower-cased username' }),
  roles: Type.Array(Type.String(), { description: 'Current roles (the admin API reads these, not the token\'s)' }),
  disabled: Type.Boolean({ description: 'A disabled user cannot log in or refresh; login answers as for a wrong password' }),
  created_at: Type.String({ format: 'date-time' }),
  locked_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When a lockout after failed logins ends; null when the account is not locked'
  })
}, { description: 'A user (never the password hash)', examples: [EXAMPLE_USER] })

export const UserList = Type.Object({ users: Type.Array(User) }, {
  description: 'The users whose username matches exactly (case-insensitive): none or one',
  examples: [{ users: [EXAMPLE_USER] }]
})
export const UserQuery = Type.Object({
  username: Type.String({ ...Username, description: 'Exact username (case-insensitive)' })
}, { additionalProperties: false })
export const RolesBody = Type.Object({
  roles: Type.Array(Role, { maxItems: MAX_ROLES, uniqueItems: true, description: 'The complete new list of roles' })
}, { additionalProperties: false, examples: [{ roles: ['admin'] }, { roles: [] }] })
export const ResetPasswordBody = Type.Object({ new_password: NewPassword }, {
  additionalProperties: false,
  examples: [{ new_password: 'a temporary passphrase to change' }]
})

const tags = ['admin']
const security = [{ bearerAuth: [] }]
const badPath = { 400: { description: 'The path or body does not match the schema', error: 'invalid_request', message: 'params/id must NOT have more than 128 characters' } }
const notFound = { 404: { description: 'No such user', error: 'not_found', message: 'no such user' } }
const storeDown = { 503: 'The store is unreachable; repeat the call (it is idempotent)' }
const selfConflict = (what: string) => ({
  409: { description: `conflict: an admin cannot ${what} their own account`, error: 'conflict', message: `an admin cannot ${what} their own account` }
})

const adminUserRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/admin/users', {
    schema: {
      tags,
      security,
      summary: 'Find a user by username',
      description: 'Exact, case-insensitive match: `users` holds the user, or nothing.',
      querystring: UserQuery,
      response: { 200: UserList, ...errors({ 400: 'The query does not match the schema', ...guarded, ...storeDown }) }
    }
  }, async (request) => ({ users: await fastify.accounts.findByUsername(request.query.username) }))

  fastify.get('/admin/users/:id', {
    schema: {
      tags,
      security,
      summary: 'Get a user',
      description: 'The user\'s username, current roles, disabled flag and any lockout in force; never the password hash.',
      params: UserIdParams,
      response: { 200: User, ...errors({ ...badPath, ...guarded, ...notFound, ...storeDown }) }
    }
  }, async (request) => fastify.accounts.get(request.params.id))

  fastify.post('/admin/users/:id/disable', {
    schema: {
      tags,
      security,
      summary: 'Disable a user',
      description: 'Every session of the user ends: its refresh tokens and access tokens are refused on every instance ' +
        'within about a second. Login then answers exactly as for a wrong password, and the admin API refuses the ' +
        'account at once. Idempotent.',
      params: UserIdParams,
      response: { 200: User, ...errors({ ...badPath, ...guarded, ...notFound, ...selfConflict('disable'), ...storeDown }) }
    }
  }, async (request) => {
    const user = await fastify.accounts.disable(request.params.id, request.principal?.sub)
    request.log.info({ userId: user.id, by: request.principal?.sub }, 'user disabled')
    return user
  })

  fastify.post('/admin/users/:id/enable', {
    schema: {
      tags,
      security,
      summary: 'Enable a user',
      description: 'The user can log in again. Sessions ended by the disable stay ended. Idempotent.',
      params: UserIdParams,
      response: { 200: User, ...errors({ ...badPath, ...guarded, ...notFound, ...storeDown }) }
    }
  }, async (request) => {
    const user = await fastify.accounts.enable(request.params.id)
    request.log.info({ userId: user.id, by: request.principal?.sub }, 'user enabled')
    return user
  })

  fastify.post('/admin/users/:id/unlock', {
    schema: {
      tags,
      security,
      summary: 'Lift a lockout after failed logins',
      description: 'Clears the account-wide lockout (LOCKOUT_ACCOUNT_THRESHOLD failures from all addresses together) ' +
        'and every address\'s own (LOCKOUT_THRESHOLD). Sessions are not touched. Idempotent.',
      params: UserIdParams,
      response: { 200: User, ...errors({ ...badPath, ...guarded, ...notFound, ...storeDown }) }
    }
  }, async (request) => {
    const user = await fastify.accounts.unlock(request.params.id)
    request.log.info({ userId: user.id, by: request.principal?.sub }, 'user unlocked')
    return user
  })

  fastify.put('/admin/users/:id/roles', {
    schema: {
      tags,
      security,
      summary: 'Set a user\'s roles',
      description: 'Replaces the roles. Taking a role away ends every session of the user (tokens carry the roles ' +
        'they were issued with, and services that trust the claim must stop seeing the old one); only adding roles ' +
        'ends nothing, and the new ones appear in tokens from the next login or refresh. The admin API reads the ' +
        'roles from the store, so a change there applies at once. An admin cannot take the admin role from themselves.',
      params: UserIdParams,
      body: RolesBody,
      response: { 200: User, ...errors({ ...badPath, ...guarded, ...notFound, ...selfConflict('take the admin role from'), ...storeDown }) }
    }
  }, async (request) => {
    const user = await fastify.accounts.setRoles(request.params.id, request.body.roles, request.principal?.sub)
    request.log.info({ userId: user.id, roles: user.roles, by: request.principal?.sub }, 'user roles set')
    return user
  })

  fastify.post('/admin/users/:id/password', {
    schema: {
      tags,
      security,
      summary: 'Reset a user\'s password',
      description: 'Sets a new password (8-256 characters), lifts a lockout in force, and ends every session of the user.',
      params: UserIdParams,
      body: ResetPasswordBody,
      response: { 204: NoContent, ...errors({ ...badPath, ...guarded, ...notFound, ...storeDown }) }
    }
  }, async (request, reply) => {
    await fastify.accounts.resetPassword(request.params.id, request.body.new_password)
    request.log.info({ userId: request.params.id, by: request.principal?.sub }, 'user password reset by an admin')
    return reply.code(204).send()
  })
}

export default adminUserRoutes
