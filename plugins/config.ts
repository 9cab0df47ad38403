// The validated configuration, decorated as `fastify.config`. It is loaded
// before Fastify is created (the logger and trustProxy need it) and passed in.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../src/main/config.js'
import type { AppOptions } from '../src/main/app-options.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

async function configPlugin (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  fastify.decorate('config', opts.config)
}

export default fp(configPlugin, { name: 'config', fastify: '5.x' })
