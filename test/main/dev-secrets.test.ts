// Development secrets kept beside the SQLite database: generated once, the
// same on every load (service and CLI alike), private to the owner; ephemeral
// with :memory: or MongoDB; never a substitute for production secrets.
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/main/config.js'
import { devSecrets, devSecretsFile, keptSecret, loadServiceConfig } from '../../src/main/dev-secrets.js'
import { scratchDir } from '../support/stores.js'

t.test('where they are kept', async (t) => {
  t.equal(devSecretsFile({ SQLITE_PATH: '/srv/db/tokens.sqlite' }), '/srv/db/secrets.json', 'beside the database')
  t.equal(devSecretsFile({ SQLITE_PATH: ':memory:' }), undefined, ':memory: keeps nothing')
  t.equal(devSecretsFile({ SQLITE_PATH: '/srv/db/tokens.sqlite', MONGODB_URL: 'mongodb://db/x' }), undefined, 'nor does MongoDB')
  t.equal(devSecrets({ SQLITE_PATH: ':memory:' }), undefined)
})

t.test('generated once, then read back; private to the owner', async (t) => {
  const dir = scratchDir(t)
  const file = join(dir, 'nested', 'secrets.json')
  const first = keptSecret(file, 'JWT_SECRET')
  t.ok(Buffer.byteLength(first) >= 32, 'strong')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(keptSecret(file, 'JWT_SECRET'), first, 'the same next time')
  const refresh = keptSecret(file, 'REFRESH_TOKEN_SECRET')
  t.not(refresh, first, 'each name has its own')
  t.same(Object.keys(JSON.parse(readFileSync(file, 'utf8'))).sort(), ['JWT_SECRET', 'REFRESH_TOKEN_SECRET'])

  writeFileSync(file, JSON.stringify({ JWT_SECRET: first }), { mode: 0o600 })
  const added = keptSecret(file, 'REFRESH_TOKEN_SECRET')
  t.not(added, first)
  t.equal(keptSecret(file, 'JWT_SECRET'), first, 'an entry added later keeps the others')
  t.equal(keptSecret(file, 'REFRESH_TOKEN_SECRET'), added)
})

t.test('loadConfig with devSecrets: the same secrets on every start, and the warning says where', async (t) => {
  const dir = scratchDir(t)
  const env = { SQLITE_PATH: join(dir, 'data', 'db.sqlite') }
  const warnings: string[] = []
  const one = loadConfig(env, (w) => warnings.push(w), devSecrets)
  const two = loadConfig(env, () => {}, devSecrets)
  t.equal(two.JWT_SECRET, one.JWT_SECRET, 'a restart keeps JWT_SECRET')
  t.equal(two.REFRESH_TOKEN_SECRET, one.REFRESH_TOKEN_SECRET, 'and REFRESH_TOKEN_SECRET')
  t.not(one.JWT_SECRET, one.REFRESH_TOKEN_SECRET)
  t.match(warnings, [
    `JWT_SECRET is not set: using a generated secret kept in ${join(dir, 'data', 'secrets.json')}`,
    /REFRESH_TOKEN_SECRET is not set: using a generated secret kept in/
  ])

  const set = loadConfig({ ...env, JWT_SECRET: 'an-explicit-secret-of-at-least-32-bytes!' }, () => {}, devSecrets)
  t.equal(set.JWT_SECRET, 'an-explicit-secret-of-at-least-32-bytes!', 'a set variable wins')
  t.equal(set.REFRESH_TOKEN_SECRET, one.REFRESH_TOKEN_SECRET)

  const memory = [loadConfig({ SQLITE_PATH: ':memory:' }, () => {}, devSecrets), loadConfig({ SQLITE_PATH: ':memory:' }, () => {}, devSecrets)]
  t.not(memory[0]!.JWT_SECRET, memory[1]!.JWT_SECRET, ':memory: secrets are new each start')

  t.throws(() => loadConfig({ ...env, NODE_ENV: 'production' }, () => {}, devSecrets),
    new ConfigError('JWT_SECRET is required when NODE_ENV=production'), 'production never uses the kept file')
})

t.test('loadServiceConfig: the data folder it creates is private to the owner', async (t) => {
  const dir = scratchDir(t)
  const config = await loadServiceConfig({ SQLITE_PATH: join(dir, 'fresh', 'db.sqlite') }, () => {})
  t.equal(statSync(join(dir, 'fresh')).mode & 0o777, 0o700, 'the folder is 0700 from the first start')
  t.equal(config.JWT_SECRET, keptSecret(join(dir, 'fresh', 'secrets.json'), 'JWT_SECRET'))
})

t.test('loadServiceConfig on MongoDB: production never connects; an unreachable server is an error, not new secrets', async (t) => {
  const unreachable = 'mongodb://127.0.0.1:1/dev_secrets_test?directConnection=true&serverSelectionTimeoutMS=300'
  await t.rejects(loadServiceConfig({ MONGODB_URL: unreachable, NODE_ENV: 'production' }, () => {}),
    new ConfigError('JWT_SECRET is required when NODE_ENV=production'))
  const both = { JWT_SECRET: 'an-explicit-secret-of-at-least-32-bytes!', REFRESH_TOKEN_SECRET: 'another-explicit-secret-of-32-bytes!!' }
  const set = await loadServiceConfig({ MONGODB_URL: unreachable, ...both }, () => {})
  t.equal(set.JWT_SECRET, both.JWT_SECRET, 'with both secrets set nothing is read from the database')
  await t.rejects(loadServiceConfig({ MONGODB_URL: unreachable }, () => {}), 'unset secrets need the database')
})

const url = process.env.MONGODB_URL
t.test('loadServiceConfig on MongoDB keeps one pair of secrets in the database, whoever starts first',
  { skip: url === undefined || url === '' ? 'MONGODB_URL is not set' : false }, async (t) => {
    const { MongoClient } = await import('mongodb')
    const dbUrl = new URL(url ?? '')
    dbUrl.pathname = `/dev_secrets_${process.pid}_${Date.now()}`
    const env = { MONGODB_URL: dbUrl.toString() }
    t.teardown(async () => {
      const client = new MongoClient(dbUrl.toString())
      await client.db().dropDatabase()
      await client.close()
    })
    const warnings: string[] = []
    const started = await Promise.all(Array.from({ length: 4 }, async () => loadServiceConfig(env, (w) => warnings.push(w))))
    t.equal(new Set(started.map((c) => c.JWT_SECRET)).size, 1, 'four instances starting together agree on JWT_SECRET')
    t.equal(new Set(started.map((c) => c.REFRESH_TOKEN_SECRET)).size, 1, 'and on REFRESH_TOKEN_SECRET')
    t.not(started[0]!.JWT_SECRET, started[0]!.REFRESH_TOKEN_SECRET)
    t.match(warnings[0], /kept in the database's settings collection/)
    const restarted = await loadServiceConfig(env, () => {})
    t.equal(restarted.JWT_SECRET, started[0]!.JWT_SECRET, 'a restart keeps them')
  })
