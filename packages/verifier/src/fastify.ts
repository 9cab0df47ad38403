// A Fastify plugin for resource servers, built on the verifier: it decorates
// `fastify.verifier` and `request.token` (the claims, once a guard passed) and
// `fastify.requireToken(scopes?)`, a preHandler that answers like the
// service's /auth/verify: 401 with `WWW-Authenticate: Bearer
// error="invalid_token"`, 403 `insufficient_scope`. While the revocation state
// is stale (and onStale is 'deny') it answers 503 `revocation_state_stale`:
// the token may be fine, the caller should retry. DPoP (RFC 9449): a token
// bound to a key must come as `Authorization: DPoP <token>` with a DPoP proof
// for this request; refusals then carry `WWW-Authenticate: DPoP error=…, algs=…`.
// The proof's htu must be `publicUrl` (the URL clients use to reach this
// server) and the path; without `publicUrl` it is the request's own protocol
// and Host header, which only a proxy you trust should set.
// No dependency on fastify-plugin: the plugin skips encapsulation by hand so
// its decorators reach the routes of the instance that registers it.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { authorizationToken, dpopChallenge } from './dpop.js'
import { hasScopes, type AccessClaims } from './rules.js'
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
export type VerifierPluginOptions = ({ verifier: Verifier } | VerifierOptions) & {
  /** This server's external base URL (e.g. https://api.example.com), which DPoP proofs' htu name. */
  publicUrl?: string
}

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
  const base = options.publicUrl?.replace(/\/+$/, '')
  const urlOf = (request: FastifyRequest): string => {
    const query = request.url.indexOf('?')
    const path = query === -1 ? request.url : request.url.slice(0, query)
    return (base ?? `${request.protocol}://${request.host}`) + path
  }
  fastify.decorate('verifier', verifier)
  fastify.decorateRequest('token', null)
  fastify.decorate('requireToken', (scopes: string | readonly string[] = []): preHandlerAsyncHookHandler => {
    const required = typeof scopes === 'string' ? scopes.split(' ').filter((s) => s !== '') : [...scopes]
    return async function requireToken (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const presented = authorizationToken(request.headers.authorization)
      if (presented === null) {
        return refuse(reply, 401, 'invalid_token', 'a bearer access token is required', 'Bearer error="invalid_token"')
      }
      const dpop = presented.scheme === 'DPoP'
      const challenge = (error: string): string => dpop ? dpopChallenge(error, verifier.dpopAlgorithms) : `Bearer error="${error}"`
      const result = verifier.verify(presented.token, dpop ? { proof: request.headers.dpop, method: request.method, url: urlOf(request) } : undefined)
      if (!result.valid) {
        if (result.error === 'revocation_state_stale') {
          reply.header('retry-after', '5')
          return refuse(reply, 503, 'revocation_state_stale', 'revocations cannot be checked right now; try again shortly')
        }
        if (result.error === 'invalid_dpop_proof') {
          return refuse(reply, 401, 'invalid_dpop_proof', result.message, dpopChallenge('invalid_dpop_proof', verifier.dpopAlgorithms))
        }
        if (result.error === 'dpop_proof_required') {
          return refuse(reply, 401, 'invalid_token', 'the access token is DPoP-bound: send it as `Authorization: DPoP` with a DPoP proof',
            dpopChallenge('invalid_token', verifier.dpopAlgorithms))
        }
        return refuse(reply, 401, 'invalid_token', `the access token is not valid (${result.error})`, challenge('invalid_token'))
      }
      if (dpop && result.claims.cnf === undefined) {
        return refuse(reply, 401, 'invalid_token', 'the access token is not DPoP-bound: send it as a Bearer token', challenge('invalid_token'))
      }
      if (required.length > 0 && !hasScopes(result.claims.scope, required)) {
        return refuse(reply, 403, 'insufficient_scope', 'the access token lacks a required scope',
          `${dpop ? 'DPoP' : 'Bearer'} error="insufficient_scope", scope="${required.join(' ')}"`)
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
