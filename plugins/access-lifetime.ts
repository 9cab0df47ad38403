// The longest access-token lifetime any live token may have (`fastify.accessLifetime`,
// see src/tokens/access-lifetime.ts): read at start, before any revocation is
// written, then every minute, so a restart that lowered ACCESS_TOKEN_TTL keeps
// revocations for the tokens the longer setting issued.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { AccessLifetime } from '../src/tokens/access-lifetime.js'
import { Ticker } from '../src/ticker.js'

declare module 'fastify' {
  interface FastifyInstance {
    accessLifetime: AccessLifetime
  }
}

const REFRESH_INTERVAL_MS = 60_000

async function accessLifetimePlugin (fastify: FastifyInstance): Promise<void> {
  const lifetime = new AccessLifetime(fastify.store.lifetimes, fastify.config.ACCESS_TOKEN_TTL, fastify.clockMs)
  await lifetime.refresh()
  if (lifetime.seconds > fastify.config.ACCESS_TOKEN_TTL) {
    fastify.log.info({ seconds: lifetime.seconds }, 'access tokens issued under a longer ACCESS_TOKEN_TTL may still be live: revocations are kept that long')
  }
  fastify.decorate('accessLifetime', lifetime)
  // A failing store keeps the last figure; the next minute tries again.
  const refresh = new Ticker(() => lifetime.refresh(), { intervalMs: REFRESH_INTERVAL_MS })
  refresh.start()
  fastify.addHook('onClose', async () => { await refresh.stop() })
}

export default fp(accessLifetimePlugin, { name: 'access-lifetime', fastify: '5.x', dependencies: ['config', 'store'] })
