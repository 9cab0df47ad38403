// The CLI (the package's bin), spawned as an operator would run it: help and
// usage errors, user create, client create, keys rotate, config and store
// errors. (The CLI on the SQLite file, backup and restore: sqlite.test.ts;
// every command's --help, --version, list and get: commands.test.ts.)
import { randomUUID } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { MongoClient } from 'mongodb'
import { MongoStore } from '../../src/store/mongo-store.js'
import { build } from '../helper.js'
import { cli, ENV } from '../support/cli.js'
import { scratchDir } from '../support/stores.js'

// Every case spawns the CLI, a few seconds each on a busy machine.
t.setTimeout(300_000)

t.test('help and usage errors', async (t) => {
  const none = await cli([])
  t.equal(none.code, 2, 'no command: usage error')
  t.match(none.stderr, /Usage: token-orchestrator \[options\] \[command\]/, 'the help, on stderr')
  const help = await cli(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /user [\s\S]*client [\s\S]*keys [\s\S]*backup <file>[\s\S]*restore <file>/)

  for (const command of [['user', 'create'], ['client', 'create'], ['keys', 'rotate'], ['backup'], ['restore']]) {
    const res = await cli([...command, '--help'])
    t.equal(res.code, 0, `${command.join(' ')} --help`)
    t.match(res.stdout, new RegExp(`^Usage: token-orchestrator ${command.join(' ')}`))
    t.equal(res.stderr, '', 'nothing else is done')
  }

  const unknown = await cli(['users', 'add'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command 'users'[\s\S]*Did you mean user\?/)
  const badOption = await cli(['user', 'create', '--nope'], ENV)
  t.equal(badOption.code, 2)
  t.match(badOption.stderr, /^token-orchestrator: unknown option '--nope'/)
  t.match(badOption.stderr, /Usage: token-orchestrator user create/, 'with the command\'s help')
  const typo = await cli(['client', 'create', '--nmae', 'x'], ENV)
  t.equal(typo.code, 2)
  t.match(typo.stderr, /unknown option '--nmae'\n\(Did you mean --name\?\)/, 'a mistyped flag gets a suggestion')
  const missing = await cli(['user', 'create', '--password', 'long enough'], ENV)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /required option '--username <name>' not specified/)
  const noPassword = await cli(['user', 'create', '--username', 'alice'], ENV)
  t.equal(noPassword.code, 2)
  t.match(noPassword.stderr, /give --password or --password-stdin/)
  t.notMatch(noPassword.stderr, /warning/, 'a usage error is found before the store is opened')
  const both = await cli(['user', 'create', '--username', 'alice', '--password', 'long enough', '--password-stdin'], ENV)
  t.equal(both.code, 2)
  t.match(both.stderr, /option '--password <pw>' cannot be used with option '--password-stdin'/)
  // A rule of the domain refusing a well-formed command line is a refusal: exit 1.
  const shortPw = await cli(['user', 'create', '--username', 'alice', '--password', 'short'], ENV)
  t.equal(shortPw.code, 1)
  t.match(shortPw.stderr, /invalid_request: the password must be 8-256 characters/)
  const badName = await cli(['user', 'create', '--username', 'a b', '--password', 'long enough'], ENV)
  t.equal(badName.code, 1)
  t.match(badName.stderr, /invalid_request: the username must be 3-64 characters/)
  // The rule itself is unit-tested; here, that both ways of making an admin apply it.
  const weakAdmin = await cli(['user', 'create', '--username', 'boss', '--password-stdin', '--admin'], ENV, 'password\n')
  t.equal(weakAdmin.code, 1, 'a weak admin password is refused')
  t.match(weakAdmin.stderr, /an admin's password must be at least 16 characters.*this one is shorter than 16/)
  const weakRole = await cli(['user', 'create', '--username', 'boss', '--password', 'rootroot12345678', '--role', 'admin'], ENV)
  t.equal(weakRole.code, 1, 'also through --role admin')
  t.match(weakRole.stderr, /this one is a common password/)
  const badRole = await cli(['user', 'create', '--username', 'boss', '--password', 'long enough', '--role', 'Not A Role'], ENV)
  t.equal(badRole.code, 1)
  t.match(badRole.stderr, /invalid_request: roles must be at most 32 names matching/)
  const badGrant = await cli(['client', 'create', '--name', 'x', '--grant', 'implicit'], ENV)
  t.equal(badGrant.code, 2)
  t.match(badGrant.stderr, /option '--grant <grant>' argument 'implicit' is invalid\. must be one of password, refresh_token, client_credentials/)
  const badTtl = await cli(['client', 'create', '--name', 'x', '--access-token-ttl', '-5'], ENV)
  t.equal(badTtl.code, 2)
  t.match(badTtl.stderr, /argument '-5' is invalid\. must be a whole number/)
  const extra = await cli(['user', 'create', 'stray'], ENV)
  t.equal(extra.code, 2)
  t.match(extra.stderr, /too many arguments for 'create'/)
})

t.test('user create and client create on a :memory: store say their work vanishes', async (t) => {
  const user = await cli(['user', 'create', '--username', 'Root', '--password-stdin', '--admin', '--role', 'ops'], ENV,
    'a-long-admin-password\nignored second line\n')
  t.equal(user.code, 0, user.stderr)
  const created = JSON.parse(user.stdout)
  t.equal(created.username, 'root')
  t.same(created.roles, ['admin', 'ops'])
  t.type(created.id, 'string')
  t.match(user.stderr, /SQLITE_PATH is :memory:[\s\S]*VANISHES when it exits/)

  const client = await cli(['client', 'create', '--name', 'Orders', '--grant', 'client_credentials', '--grant', 'password',
    '--scope', 'orders:read', '--audience', 'orders-api', '--access-token-ttl', '60'], ENV)
  t.equal(client.code, 0, client.stderr)
  const body = JSON.parse(client.stdout)
  t.match(body, { name: 'Orders', grants: ['client_credentials', 'password'], scopes: ['orders:read'], audiences: ['orders-api'], access_token_ttl: 60 })
  t.match(body.client_secret, /^[A-Za-z0-9_-]{43}$/)

  const pub = await cli(['client', 'create', '--name', 'Shop app', '--public', '--audience', 'shop-api'], ENV)
  t.equal(pub.code, 0, pub.stderr)
  const app = JSON.parse(pub.stdout)
  t.match(app, { name: 'Shop app', public: true, grants: ['password', 'refresh_token'], audiences: ['shop-api'] })
  t.equal(app.client_secret, null, 'a public client has no secret')
  t.equal(body.public, false, 'without --public: confidential')
  const pubService = await cli(['client', 'create', '--name', 'x', '--public', '--grant', 'client_credentials'], ENV)
  t.equal(pubService.code, 1)
  t.match(pubService.stderr, /invalid_request: a public client cannot have the client_credentials grant/)

  const tooLong = await cli(['client', 'create', '--name', 'x', '--access-token-ttl', '100000'], ENV)
  t.equal(tooLong.code, 1)
  t.match(tooLong.stderr, /invalid_request: access_token_ttl must be between 1 and ACCESS_TOKEN_TTL/)
})

t.test('keys rotate', async (t) => {
  const hs = await cli(['keys', 'rotate'], ENV)
  t.equal(hs.code, 1)
  t.match(hs.stderr, /keys rotate needs JWT_ALGORITHM ES256, EdDSA or RS256 \(it is HS256\)/)

  const noSecret = await cli(['keys', 'rotate'], { JWT_ALGORITHM: 'ES256', SQLITE_PATH: ':memory:' })
  t.equal(noSecret.code, 1)
  t.match(noSecret.stderr, /JWT_SECRET must be set/, 'an ephemeral secret would seal the key with nothing the service knows')

  // In development on a file, the CLI seals with the secret kept beside the database, as the service does.
  const dir = scratchDir(t)
  const kept = await cli(['keys', 'rotate'], { JWT_ALGORITHM: 'ES256', ARGON2_MEMORY_KIB: '8192' }, undefined, dir)
  t.equal(kept.code, 0, kept.stderr)
  const secrets = join(dir, 'data', 'secrets.json')
  t.match(kept.stderr, new RegExp(`JWT_SECRET is not set: using a generated secret kept in ${secrets.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  t.equal(statSync(secrets).mode & 0o777, 0o600, 'readable by its owner only')

  const ok = await cli(['keys', 'rotate'], { ...ENV, JWT_ALGORITHM: 'RS256', KEY_ROTATION_OVERLAP: '120' })
  t.equal(ok.code, 0, ok.stderr)
  const key = JSON.parse(ok.stdout)
  t.equal(key.alg, 'RS256')
  t.type(key.kid, 'string')
  const lead = Date.parse(key.activates_at) - Date.parse(key.published_at)
  t.ok(lead > 110_000 && lead <= 120_000, 'activates KEY_ROTATION_OVERLAP after it is published')
})

t.test('configuration and store errors', async (t) => {
  const badConfig = await cli(['client', 'create', '--name', 'x'], { ...ENV, PORT: 'abc' })
  t.equal(badConfig.code, 1)
  t.match(badConfig.stderr, /invalid configuration: PORT must be integer/)

  const unreachable = await cli(['client', 'create', '--name', 'x'], {
    ...ENV, MONGODB_URL: 'mongodb://127.0.0.1:1/cli_test?directConnection=true'
  })
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, /the store \(MONGODB_URL\) is unreachable/)
  t.notMatch(unreachable.stderr, /ECONNREFUSED/, 'no driver noise')
})

const url = process.env.MONGODB_URL
t.test('against MongoDB: a client created by the CLI gets tokens from the service', { skip: url === undefined || url === '' ? 'MONGODB_URL is not set' : false }, async (t) => {
  const dbUrl = new URL(url ?? '')
  dbUrl.pathname = `/token_orchestrator_cli_${randomUUID()}`
  const mongo = new MongoClient(dbUrl.toString())
  await mongo.connect()
  t.teardown(async () => {
    await mongo.db().dropDatabase()
    await mongo.close()
  })
  const created = await cli(['client', 'create', '--name', 'svc'], { ...ENV, MONGODB_URL: dbUrl.toString() })
  t.equal(created.code, 0, created.stderr)
  t.notMatch(created.stderr, /VANISHES/)
  const { client_id: id, client_secret: secret } = JSON.parse(created.stdout)
  const app = await build(t, { store: new MongoStore(mongo.db()) })
  const res = await app.inject({
    method: 'POST', url: '/oauth/token', payload: { grant_type: 'client_credentials', client_id: id, client_secret: secret }
  })
  t.equal(res.statusCode, 200)
})
