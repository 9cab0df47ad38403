// The application is one plugin: autoload registers plugins/ (ordered by their
// declared dependencies), then routes/. server.ts and the tests build exactly this.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import AutoLoad from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import type { AppOptions } from './app-options.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(AutoLoad, { dir: join(root, 'plugins'), options: opts, encapsulate: false })
  await fastify.register(AutoLoad, {
    dir: join(root, 'routes'),
    options: opts,
    ignorePattern: /^schemas\./,
    // A folder's autohooks.ts guards every route in it (routes/admin: token + admin role).
    autoHooks: true,
    cascadeHooks: true
  })
}
