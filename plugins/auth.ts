// The authentication service (`fastify.auth`) and the bearer-token guard
// (`fastify.authenticate`) that protected route folders add as a hook.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AuthService } from '../src/auth/auth-service.js'
import { ClientService } from '../src/clients/clients.js'
import { VerifiedSecrets } from '../src/clients/verified-secrets.js'
import { AppError } from '../src/errors.js'
import type { PasswordHasher } from '../src/auth/passwords.js'
import { authPolicy, clientPolicy, passwordHasher } from '../src/main/policies.js'
import { verifyLiveAccess, type AccessClaims } from '../src/tokens/tokens.js'
import { authorizationToken } from '@token-orchestrator/verifier/dpop'

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService
    /** Clients: create, authenticate, resolve for login, disable. */
    clients: ClientService
    passwords: PasswordHasher
    /**
     * preHandler: requires a valid, unrevoked access token (`Bearer`, or `DPoP`
     * with its proof when it is DPoP-bound); sets request.principal.
     */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /**
     * For a request that waited after `authenticate` (a long poll): its access
     * token checked again for what can change meanwhile (revocation, expiry).
     * Returns its claims; throws `invalid_token`. The signature and DPoP proof
     * were checked once and are not checked again.
     */
    recheckAccess: (request: FastifyRequest) => AccessClaims
  }
  interface FastifyRequest {
    principal: AccessClaims | null
  }
}

/** The client used when login names none: the service's own audience and TTLs. */
export { DEFAULT_CLIENT_ID } from '../src/clients/clients.js'

async function authPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  const hasher = passwordHasher(config)
  const clients = new ClientService({
    now: fastify.clock,
    store: fastify.store,
    hasher,
    follower: fastify.revocationFollower,
    verifiedSecrets: new VerifiedSecrets({ ttlMs: config.CLIENT_SECRET_CACHE_SECONDS * 1000, now: fastify.clockMs }),
    policy: clientPolicy(config, fastify.accessLifetime),
    events: fastify.securityEvents
  })
  const auth = new AuthService({
    now: fastify.clock,
    store: fastify.store,
    tokens: fastify.tokens,
    hasher,
    revocations: fastify.revocations,
    follower: fastify.revocationFollower,
    policy: authPolicy(config, fastify.accessLifetime),
    onEvent: (event) => fastify.serviceMetrics.authEvent(event),
    events: fastify.securityEvents,
    resolvePublicClient: async (clientId) => clients.resolvePublic(clientId),
    resolveClient: async (clientId) => clients.resolve(clientId)
  })
  fastify.decorate('passwords', hasher)
  fastify.decorate('clients', clients)
  fastify.decorate('auth', auth)
  fastify.decorateRequest('principal', null)
  fastify.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
    const presented = authorizationToken(request.headers.authorization)
    if (presented === null) throw new AppError('invalid_token', 'a bearer access token is required')
    const verified = verifyLiveAccess(fastify.tokens, fastify.revocations, presented.token)
    if (!verified.ok) {
      const message = `the access token is not valid (${verified.error})`
      throw presented.scheme === 'DPoP'
        ? new AppError('invalid_token', message, { challenge: fastify.dpop.challenge('invalid_token') })
        : new AppError('invalid_token', message)
    }
    const claims = verified.claims
    // A DPoP-bound token, or the DPoP scheme: one proof verification and replay check.
    if (claims.cnf !== undefined || presented.scheme === 'DPoP') {
      if (fastify.dpop.requireNonce) reply.header('dpop-nonce', fastify.dpop.nonce())
      await fastify.dpop.resourceRequest(presented.scheme, presented.token, claims.cnf, request.headers.dpop, {
        method: request.method, url: fastify.dpopUrl(request)
      })
    }
    request.principal = claims
  })
  fastify.decorate('recheckAccess', (request: FastifyRequest): AccessClaims => {
    const presented = authorizationToken(request.headers.authorization)
    if (presented === null) throw new AppError('invalid_token', 'a bearer access token is required')
    const verified = verifyLiveAccess(fastify.tokens, fastify.revocations, presented.token)
    if (!verified.ok) throw new AppError('invalid_token', `the access token is not valid (${verified.error})`)
    return verified.claims
  })
  // The dummy hash is made before the first login so that one is not slower than the rest.
  fastify.addHook('onReady', async () => hasher.warmUp())
}

export default fp(authPlugin, {
  name: 'auth',
  fastify: '5.x',
  dependencies: ['config', 'store', 'access-lifetime', 'jwt', 'revocation', 'metrics', 'security-events', 'dpop']
})
