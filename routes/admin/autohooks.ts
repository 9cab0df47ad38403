// Every /admin route needs a valid, unrevoked access token (401 otherwise) from
// a first-party login (issued to the built-in `default` client, not delegated:
// 403 otherwise) of a user whose CURRENT record in the store has the `admin`
// role (403 otherwise) and is not disabled (401). AccountService.authorizeAdmin
// holds the rule. Enforced here for the whole folder, so no route can forget it
// and nothing depends on matching URL strings.
import type { FastifyInstance } from 'fastify'

export default async function adminHooks (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRequest', async (request, reply) => {
    await fastify.authenticate(request, reply)
    await fastify.accounts.authorizeAdmin(request.principal!)
  })
}
