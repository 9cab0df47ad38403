// Every /admin route needs a valid, unrevoked access token (401 otherwise) whose
// roles include `admin` (403 otherwise). Enforced here for the whole folder, so
// no route can forget it and nothing depends on matching URL strings.
import type { FastifyInstance } from 'fastify'
import { ADMIN_ROLE } from '../../src/auth/accounts.js'
import { AppError } from '../../src/errors.js'

export default async function adminHooks (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRequest', async (request) => {
    await fastify.authenticate(request)
    if (request.principal?.roles.includes(ADMIN_ROLE) !== true) {
      throw new AppError('forbidden', 'the admin role is required')
    }
  })
}
