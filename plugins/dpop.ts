// DPoP (RFC 9449), decorated as `fastify.dpop` (src/dpop/dpop-service.ts),
// with the replay guard DPOP_REPLAY_CACHE names and nonces keyed from
// JWT_SECRET (the same on every instance). `fastify.dpopUrl(request)` is the
// URL a client addressed to reach a route of this service, which its proofs'
// `htu` must name: PUBLIC_URL and the request's path, never the Host header or
// X-Forwarded-* (a proxy in front changes neither, and a client cannot either).
// `fastify.dpopTokenRequest` reads the proof of a token request and answers
// with the key its tokens are bound to. DPOP_REPLAY_CACHE=redis claims
// proofs through the service's Redis connection (REDIS_URL, plugins/redis.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DpopService } from '../src/dpop/dpop-service.js'
import { DpopNonces } from '../src/dpop/nonces.js'
import { MemoryReplayGuard, RedisReplayGuard, REPLAY_MEMORY_SIZE, StoreReplayGuard, type ReplayGuard } from '../src/dpop/replay.js'
import { dpopPolicy } from '../src/main/policies.js'

declare module 'fastify' {
  interface FastifyInstance {
    dpop: DpopService
    /** PUBLIC_URL and the path of the request (no query): the `htu` a proof sent to this service must carry. */
    dpopUrl: (request: FastifyRequest) => string
    /**
     * The thumbprint of the key a token request's DPoP proof is signed with, or
     * undefined when it has no DPoP header. Throws AppError invalid_dpop_proof /
     * use_dpop_nonce. Sends DPoP-Nonce when nonces are required.
     */
    dpopTokenRequest: (request: FastifyRequest, reply: FastifyReply) => Promise<string | undefined>
  }
}

/** The request's path without its query: `request.url` is what the client sent after the authority. */
function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

async function dpopPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  let replay: ReplayGuard
  if (config.DPOP_REPLAY_CACHE === 'redis') {
    // The service's one Redis connection (plugins/redis.ts: no offline queue,
    // bounded commands): while Redis is down a proof is refused at once (503),
    // not held until it is back.
    replay = new RedisReplayGuard(fastify.redis!)
  } else if (config.DPOP_REPLAY_CACHE === 'memory') {
    // Full of live proofs, this cache refuses new ones: said in the log at most once a minute.
    let warned = -Infinity
    replay = new MemoryReplayGuard(REPLAY_MEMORY_SIZE, (size) => {
      const now = Date.now()
      if (now - warned < 60_000) return
      warned = now
      fastify.log.warn({ size }, 'the DPoP replay cache is full of live proofs: new proofs are refused as replays until some expire (DPOP_REPLAY_CACHE=store or redis remembers them in a shared store)')
    })
  } else {
    replay = new StoreReplayGuard(fastify.store.dpopProofs)
  }
  const dpop = new DpopService({
    policy: dpopPolicy(config),
    replay,
    nonces: new DpopNonces(config.JWT_SECRET, fastify.clock),
    now: fastify.clock
  })
  const base = config.PUBLIC_URL
  const dpopUrl = (request: FastifyRequest): string => base + pathOf(request.url)
  fastify.decorate('dpop', dpop)
  fastify.decorate('dpopUrl', dpopUrl)
  fastify.decorate('dpopTokenRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const proof = request.headers.dpop
    if (proof === undefined) return undefined
    if (dpop.requireNonce) reply.header('dpop-nonce', dpop.nonce())
    return dpop.tokenRequest(proof, { method: request.method, url: dpopUrl(request) })
  })
}

export default fp(dpopPlugin, { name: 'dpop', fastify: '5.x', dependencies: ['config', 'store', 'redis'] })
