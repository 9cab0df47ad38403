// The first admin: when ADMIN_USERNAME / ADMIN_PASSWORD are set, start-up makes
// sure that user exists with the `admin` role. Idempotent (an existing user is
// left as it is, password included) and safe when several instances start at once.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ADMIN_ROLE, createUser } from '../src/auth/accounts.js'
import { AppError } from '../src/errors.js'

async function adminBootstrapPlugin (fastify: FastifyInstance): Promise<void> {
  const { ADMIN_USERNAME: username, ADMIN_PASSWORD: password } = fastify.config
  if (username === undefined || password === undefined) return
  const existing = await fastify.store.users.findByUsername(username)
  if (existing !== null) {
    if (!existing.roles.includes(ADMIN_ROLE)) {
      fastify.log.warn({ username: existing.username }, 'ADMIN_USERNAME names an existing user without the admin role; left unchanged')
    }
    return
  }
  try {
    await createUser({ store: fastify.store, hasher: fastify.passwords }, { username, password, roles: [ADMIN_ROLE] })
    fastify.log.info({ username: username.toLowerCase() }, 'bootstrap admin created')
  } catch (err) {
    // Another instance created it first.
    if (!(err instanceof AppError && err.code === 'username_taken')) throw err
  }
}

export default fp(adminBootstrapPlugin, {
  name: 'admin-bootstrap',
  fastify: '5.x',
  dependencies: ['config', 'store', 'auth']
})
