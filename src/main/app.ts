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
    ignorePattern: /(^|\/)schemas\./,
    // Route files write their full paths, and share the app's scope: Fastify
    // gives every encapsulated plugin Request and Reply classes of their own,
    // and once more than four of them carry traffic, the property accesses
    // that every request makes in Fastify and in our hooks stop being
    // specialised by V8 (about 9 % of the validate rate, measured).
    encapsulate: false,
    dirNameRoutePrefix: false,
    // A folder with an autohooks.ts is the one exception: that file and the
    // folder's routes make one encapsulated plugin, so its hooks reach only
    // those routes (routes/admin: token + admin role; routes/oauth: OAuth
    // error format, form bodies).
    autoHooks: true,
    cascadeHooks: true
  })
}
