// The token store, decorated as `fastify.store`: MongoDB (through
// @fastify/mongodb) when MONGODB_URL is set, otherwise the embedded memory store.
import fp from 'fastify-plugin'
import fastifyMongodb from '@fastify/mongodb'
import type { FastifyInstance } from 'fastify'
import type { AppOptions } from '../src/main/app-options.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { MongoStore } from '../src/store/mongo-store.js'
import type { Store } from '../src/store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

async function storePlugin (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  let store: Store
  if (opts.store !== undefined) {
    // Injected (tests): whoever made it closes it.
    store = opts.store
  } else if (fastify.config.MONGODB_URL !== undefined) {
    await fastify.register(fastifyMongodb, {
      url: fastify.config.MONGODB_URL,
      forceClose: true,
      serverSelectionTimeoutMS: 5000
    })
    store = new MongoStore(fastify.mongo.db!)
    fastify.addHook('onClose', async () => store.close())
  } else {
    fastify.log.warn('MONGODB_URL is not set: using the embedded in-memory store; users, sessions and revocations will not survive a restart')
    store = new MemoryStore()
    fastify.addHook('onClose', async () => store.close())
  }
  await store.init()
  fastify.decorate('store', store)
}

export default fp(storePlugin, { name: 'store', fastify: '5.x', dependencies: ['config'] })
