// Every /admin route needs a valid, unrevoked access token (401 otherwise) of a
// user whose CURRENT record in the store has the `admin` role (403 otherwise)
// and is not disabled (401). Roles in the token are a snapshot, so they are not
// trusted here: admin requests are rare, and one store read per request lets a
// demoted or disabled admin lose the API at once. A delegated (exchanged) token
// is refused: the admin API is for the admin in person. Enforced here for the
// whole folder, so no route can forget it and nothing depends on matching URL strings.
import type { FastifyInstance } from 'fastify'
import { ADMIN_ROLE } from '../../src/auth/account-service.js'
import { AppError } from '../../src/errors.js'

export { ADMIN_ROLE }

export default async function adminHooks (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRequest', async (request) => {
    await fastify.authenticate(request)
    const principal = request.principal!
    if (principal.act !== undefined) throw new AppError('forbidden', 'the admin role is required')
    const user = await fastify.store.users.findById(principal.sub)
    if (user !== null && user.disabled) throw new AppError('invalid_token', 'the account is disabled')
    if (user?.roles.includes(ADMIN_ROLE) !== true) throw new AppError('forbidden', 'the admin role is required')
  })
}
