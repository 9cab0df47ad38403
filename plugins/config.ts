// The validated configuration, decorated as `fastify.config`. It is loaded
// before Fastify is created (the logger and trustProxy need it) and passed in.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../src/main/config.js'
import type { AppOptions } from '../src/main/app-options.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** The injected clock (AppOptions.now), seconds; undefined → each service reads the system clock. */
    clock: (() => number) | undefined
    /** The same injected clock in milliseconds, for the services that count in them; undefined as above. */
    clockMs: (() => number) | undefined
  }
}

async function configPlugin (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  fastify.decorate('config', opts.config)
  const now = opts.now
  fastify.decorate('clock', now)
  fastify.decorate('clockMs', now === undefined ? undefined : () => now() * 1000)
}

export default fp(configPlugin, { name: 'config', fastify: '5.x' })
