// The token store, decorated as `fastify.store`: MongoDB (through
// @fastify/mongodb) when MONGODB_URL is set, otherwise the embedded SQLite
// database at SQLITE_PATH (its folder is created; `:memory:` is a throw-away one).
import fp from 'fastify-plugin'
import fastifyMongodb from '@fastify/mongodb'
import type { FastifyInstance } from 'fastify'
import type { AppOptions } from '../src/main/app-options.js'
import { ensureSqliteFolder, MEMORY, mongoDatabaseName, sqliteFile } from '../src/store/location.js'
import { MongoStore, writeConcernFor } from '../src/store/mongo-store.js'
import { SqliteStore } from '../src/store/sqlite-store.js'
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
    // Not fastify.mongo.db: that is only set when the URL names a database.
    const database = mongoDatabaseName(fastify.config.MONGODB_URL)
    store = new MongoStore(fastify.mongo.client.db(database), { writeConcern: writeConcernFor(fastify.config.MONGODB_WRITE_CONCERN) })
    fastify.log.info({ database }, 'store: MongoDB')
    fastify.addHook('onClose', async () => store.close())
  } else {
    const file = sqliteFile(fastify.config.SQLITE_PATH)
    if (file === MEMORY) {
      fastify.log.warn('SQLITE_PATH is :memory:: users, sessions and revocations will not survive a restart')
    } else {
      ensureSqliteFolder(file)
      fastify.log.info({ file }, 'store: SQLite')
    }
    store = new SqliteStore(file)
    fastify.addHook('onClose', async () => store.close())
  }
  await store.init()
  fastify.decorate('store', store)
}

export default fp(storePlugin, { name: 'store', fastify: '5.x', dependencies: ['config'] })
