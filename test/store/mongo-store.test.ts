// The storage contract against MongoDB, when MONGODB_URL points at a server
// (each store gets its own throw-away database). Without a server, only the
// error mapping is checked, against an address nothing listens on.
import { randomUUID } from 'node:crypto'
import { MongoClient } from 'mongodb'
import t from 'tap'
import { AppError, StoreUnavailableError } from '../../src/errors.js'
import { MongoStore } from '../../src/store/mongo-store.js'
import { storeContract } from './contract.js'

const url = process.env.MONGODB_URL

if (url === undefined || url === '') {
  t.test('MongoDB store contract', { skip: 'MONGODB_URL is not set' }, async () => {})
} else {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 })
  await client.connect()
  t.teardown(async () => { await client.close() })

  await storeContract(t, 'mongodb', async (options) => {
    const db = client.db(`token_orchestrator_test_${randomUUID()}`)
    const store = new MongoStore(db, options)
    await store.init()
    return {
      store,
      cleanup: async () => {
        await store.close()
        await db.dropDatabase()
      }
    }
  })
}

await t.test('an unreachable server is reported as StoreUnavailableError', async (t) => {
  // Port 1 on loopback: connections are refused at once, server selection gives up quickly.
  const client = new MongoClient('mongodb://127.0.0.1:1/?directConnection=true', {
    serverSelectionTimeoutMS: 300,
    connectTimeoutMS: 300
  })
  t.teardown(async () => { await client.close() })
  const store = new MongoStore(client.db(`token_orchestrator_unreachable_${randomUUID()}`))
  t.equal(store.kind, 'mongodb')

  const now = new Date()
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['init', async () => store.init()],
    ['ping', async () => store.ping()],
    ['users.create', async () => store.users.create({ username: 'alice', passwordHash: 'h' })],
    ['users.findByUsername', async () => store.users.findByUsername('alice')],
    ['users.beginLoginAttempt', async () => store.users.beginLoginAttempt('id', { threshold: 3, lockSeconds: 60, now })],
    ['users.setRoles', async () => store.users.setRoles('id', ['admin'])],
    ['sessions.rotate', async () => store.sessions.rotate('sid', 'jti', {
      nextJti: 'next', expiresAt: now, previous: { jti: 'jti', rotatedAt: now, successor: null }
    })],
    ['sessions.revoke', async () => store.sessions.revoke('sid', 'logout', now)],
    ['sessions.revokeAllForUser', async () => store.sessions.revokeAllForUser('user', 'logout', now)],
    ['sessions.revokeAllForClient', async () => store.sessions.revokeAllForClient('c', 'disabled', now)],
    ['sessions.listForUser', async () => store.sessions.listForUser('user', now)],
    ['revocations.add', async () => store.revocations.add({ kind: 'jti', value: 'j', expiresAt: now })],
    ['revocations.since', async () => store.revocations.since(0, now, 10)],
    ['revocations.bounds', async () => store.revocations.bounds()],
    ['users.setPasswordHash', async () => store.users.setPasswordHash('id', 'h')],
    ['users.clearAllLoginFailures', async () => store.users.clearAllLoginFailures('id')],
    ['sessions.createIfCurrent', async () => store.sessions.createIfCurrent({
      sid: 's', userId: 'u', clientId: 'c', currentJti: 'j', createdAt: now, expiresAt: now, absoluteExpiresAt: now
    }, 0)],
    ['lifetimes.record', async () => store.lifetimes.record(900, now)],
    ['lifetimes.longestLive', async () => store.lifetimes.longestLive(now)],
    ['sweep', async () => store.sweep(now)],
    ['clients.create', async () => store.clients.create({
      clientId: 'c', name: 'n', secretHash: 'h', grants: [], audiences: [], scopes: [], accessTokenTtl: null, refreshTokenTtl: null
    })],
    ['clients.find', async () => store.clients.find('c')],
    ['clients.list', async () => store.clients.list()],
    ['clients.setDisabled', async () => store.clients.setDisabled('c', true)],
    ['clients.setSecret', async () => store.clients.setSecret('c', 'h', null)],
    ['keys.add', async () => store.keys.add({ kid: 'k', alg: 'ES256', publicKey: 'p', privateKey: 's', activatesAt: now }, now)],
    ['keys.list', async () => store.keys.list(now)]
  ]
  for (const [name, call] of calls) {
    const err = await call().then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof StoreUnavailableError, `${name}: StoreUnavailableError`)
    t.ok(err instanceof AppError, `${name}: an AppError`)
    const appErr = err as AppError
    t.equal(appErr.code, 'store_unavailable')
    t.equal(appErr.statusCode, 503)
    t.equal(appErr.message, 'the token store is unavailable, try again later', `${name}: no driver message`)
    t.ok(appErr.cause instanceof Error, `${name}: driver error kept as cause for the log`)
  }

  t.same(await store.revocations.since(0, now, 0), [], 'limit 0 asks nothing')
  await t.resolves(store.close(), 'close() does not touch the client')
})
