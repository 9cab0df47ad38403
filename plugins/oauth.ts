// The OAuth 2.0 service (`fastify.oauth`) behind routes/oauth: client
// authentication, the token endpoint's grants, introspection and revocation.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { OAuthService } from '../src/oauth/oauth-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthService
  }
}

async function oauthPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorate('oauth', new OAuthService({
    auth: fastify.auth,
    clients: fastify.clients,
    tokens: fastify.tokens,
    revocations: fastify.revocations,
    store: fastify.store,
    now: fastify.clock
  }))
}

export default fp(oauthPlugin, {
  name: 'oauth',
  fastify: '5.x',
  dependencies: ['store', 'jwt', 'revocation', 'auth']
})
