// A Fastify plugin for resource servers, built on the verifier: it decorates
// `fastify.verifier` and `request.token` (the claims, once a guard passed) and
// `fastify.requireToken(scopes?)`, a preHandler that answers like the
// service's /auth/verify: 401 with `WWW-Authenticate: Bearer
// error="invalid_token"`, 403 `insufficient_scope`. While the revocation state
// is stale (and onStale is 'deny') it answers 503 `revocation_state_stale`:
// the token may be fine, the caller should retry.
// No dependency on fastify-plugin: the plugin skips encapsulation by hand so
// its decorators reach the routes of the instance that registers it.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { bearerToken, hasScopes, type AccessClaims } from './rules.js'
import { createVerifier, type Verifier, type VerifierOptions } from './verifier.js'

declare module 'fastify' {
  interface FastifyInstance {
    verifier: Verifier
    /** A preHandler that requires a valid, unrevoked access token carrying every scope given. */
    requireToken: (scopes?: string | readonly string[]) => preHandlerAsyncHookHandler
  }
  interface FastifyRequest {
    /** The claims of the request's access token, once requireToken passed; null before. */
    token: AccessClaims | null
  }
}

/** A verifier to use (closed by its owner), or the options to create one (closed with the server). */
export type VerifierPluginOptions = { verifier: Verifier } | VerifierOptions

function refuse (reply: FastifyReply, status: number, error: string, message: string, challenge?: string): FastifyReply {
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(status).send({ error, message })
}

async function verifierPlugin (fastify: FastifyInstance, options: VerifierPluginOptions): Promise<void> {
  let verifier: Verifier
  if ('verifier' in options) {
    verifier = options.verifier
  } else {
    verifier = await createVerifier(options)
    fastify.addHook('onClose', async () => verifier.close())
  }
  fastify.decorate('verifier', verifier)
  fastify.decorateRequest('token', null)
  fastify.decorate('requireToken', (scopes: string | readonly string[] = []): preHandlerAsyncHookHandler => {
    const required = typeof scopes === 'string' ? scopes.split(' ').filter((s) => s !== '') : [...scopes]
    return async function requireToken (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const token = bearerToken(request.headers.authorization)
      if (token === null) {
        return refuse(reply, 401, 'invalid_token', 'a bearer access token is required', 'Bearer error="invalid_token"')
      }
      const result = verifier.verify(token)
      if (!result.valid) {
        if (result.error === 'revocation_state_stale') {
          reply.header('retry-after', '5')
          return refuse(reply, 503, 'revocation_state_stale', 'revocations cannot be checked right now; try again shortly')
        }
        return refuse(reply, 401, 'invalid_token', `the access token is not valid (${result.error})`, 'Bearer error="invalid_token"')
      }
      if (required.length > 0 && !hasScopes(result.claims.scope, required)) {
        return refuse(reply, 403, 'insufficient_scope', 'the access token lacks a required scope',
          `Bearer error="insufficient_scope", scope="${required.join(' ')}"`)
      }
      request.token = result.claims
    }
  })
}

// What fastify-plugin would set: no encapsulation, and a name in errors and the plugin tree.
const plugin = Object.assign(verifierPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@token-orchestrator/verifier',
  [Symbol.for('plugin-meta')]: { name: '@token-orchestrator/verifier', fastify: '5.x' }
})

export default plugin
export { plugin as verifierPlugin }
