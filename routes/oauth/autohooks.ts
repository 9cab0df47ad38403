// What every /oauth route shares, scoped to this folder: its errors in the
// OAuth format, form-urlencoded bodies, and `Pragma: no-cache`. autoload
// registers this file and the folder's routes in one encapsulated plugin, so
// none of it reaches a route outside /oauth.
import type { FastifyInstance } from 'fastify'
import { OAuthError } from '../../src/oauth/errors.js'

export default async function oauthHooks (fastify: FastifyInstance): Promise<void> {
  // RFC 6749 §5.2 `{error, error_description}` (plugins/error-handler.ts reads `errorFormat`).
  fastify.addHook('onRoute', (route) => {
    route.config = { ...(route.config ?? {}), errorFormat: 'oauth' }
  })

  // Form bodies, parsed in this folder only. RFC 6749 §3.2: a parameter given
  // twice is an invalid request.
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const out: Record<string, string> = {}
    for (const [key, value] of new URLSearchParams(body as string)) {
      if (Object.hasOwn(out, key)) {
        done(new OAuthError('invalid_request', `parameter ${key.slice(0, 64)} is repeated`), undefined)
        return
      }
      out[key] = value
    }
    done(null, out)
  })

  // RFC 6749 section 5.1 asks for Pragma too (Cache-Control: no-store is plugins/response-headers.ts's).
  fastify.addHook('onRequest', async (_request, reply) => {
    reply.header('pragma', 'no-cache')
  })
}
