// Account lifecycle (`fastify.accounts`): the user's own password change and
// the admin API's user operations (src/auth/account-service.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { AccountService } from '../src/auth/account-service.js'
import { accountPolicy } from '../src/main/policies.js'

declare module 'fastify' {
  interface FastifyInstance {
    accounts: AccountService
  }
}

async function accountsPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorate('accounts', new AccountService({
    now: fastify.clock,
    store: fastify.store,
    hasher: fastify.passwords,
    auth: fastify.auth,
    policy: accountPolicy(fastify.config),
    events: fastify.securityEvents
  }))
}

export default fp(accountsPlugin, { name: 'accounts', fastify: '5.x', dependencies: ['config', 'store', 'auth', 'security-events'] })
