// The CLI's account and client commands on the service's SQLite file, with a
// service running on the same file: user disable / enable / roles and client
// secret take effect in the service (sessions end within the revocation lag).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { SqliteStore } from '../../src/store/sqlite-store.js'
import { build, login, PASSWORD, registerUser, validate } from '../helper.js'
import { cli, ENV, FILE_ENV } from '../support/cli.js'
import { ADMIN_ENV, createClient } from '../support/clients.js'
import { scratchDir } from '../support/stores.js'

t.setTimeout(300_000)

async function eventually (check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return check()
}

async function serviceOn (t: Test, dir: string): Promise<{ app: FastifyInstance, store: SqliteStore }> {
  mkdirSync(join(dir, 'data'), { recursive: true })
  const store = new SqliteStore(join(dir, 'data', 'token-orchestrator.sqlite'))
  t.teardown(() => store.close())
  const app = await build(t, { store, env: ADMIN_ENV })
  return { app, store }
}

t.test('help for the new commands; usage errors', async (t) => {
  const help = await cli(['--help'])
  t.match(help.stdout, /user /)
  for (const command of [['user', 'disable'], ['user', 'enable'], ['user', 'roles'], ['client', 'secret']]) {
    const res = await cli([...command, '--help'])
    t.equal(res.code, 0, `${command.join(' ')} --help`)
    t.match(res.stdout, new RegExp(`^Usage: token-orchestrator ${command.join(' ')}`))
  }
  const none = await cli(['user', 'disable'], ENV)
  t.equal(none.code, 2)
  t.match(none.stderr, /missing required argument 'username'/)
  const rolesNone = await cli(['user', 'roles'], ENV)
  t.equal(rolesNone.code, 2)
  t.match(rolesNone.stderr, /missing required argument 'username'/)
  const unknown = await cli(['user', 'enable', 'nobody-here'], ENV)
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /not_found: no user named "nobody-here"/)
  const noClient = await cli(['client', 'secret', 'nope'], ENV)
  t.equal(noClient.code, 1)
  t.match(noClient.stderr, /not_found: no such client/)
})

t.test('user disable / enable / roles against a running service on the same file', async (t) => {
  const dir = scratchDir(t)
  const { app, store } = await serviceOn(t, dir)
  const user = await registerUser(app)
  const session = await login(app, user.username)

  const disabled = await cli(['user', 'disable', user.username.toUpperCase()], FILE_ENV, undefined, dir)
  t.equal(disabled.code, 0, disabled.stderr)
  t.match(JSON.parse(disabled.stdout), { id: user.id, username: user.username, disabled: true })
  t.ok(await eventually(async () => (await validate(app, session.access_token)).error === 'revoked'),
    'the service refuses the user\'s token within the revocation lag')
  const refused = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(refused.statusCode, 401)

  const enabled = await cli(['user', 'enable', user.username], FILE_ENV, undefined, dir)
  t.equal(enabled.code, 0, enabled.stderr)
  t.equal(JSON.parse(enabled.stdout).disabled, false)
  const again = await login(app, user.username)

  const roles = await cli(['user', 'roles', user.username, 'admin', 'ops'], FILE_ENV, undefined, dir)
  t.equal(roles.code, 0, roles.stderr)
  t.same(JSON.parse(roles.stdout).roles, ['admin', 'ops'])
  t.same((await store.users.findById(user.id))?.roles, ['admin', 'ops'])
  t.equal((await app.inject({ url: '/admin/clients', headers: { authorization: `Bearer ${again.access_token}` } })).statusCode, 200,
    'the new admin is admitted at once')
  const bad = await cli(['user', 'roles', user.username, 'Not A Role'], FILE_ENV, undefined, dir)
  t.equal(bad.code, 1, 'a role name the rule refuses: refused')
  t.match(bad.stderr, /invalid_request: roles must be at most 32 names matching/)
  const cleared = await cli(['user', 'roles', user.username], FILE_ENV, undefined, dir)
  t.equal(cleared.code, 0, cleared.stderr)
  t.same(JSON.parse(cleared.stdout).roles, [])
  // The CLI is another process: the service sees its revocations within the revocation lag.
  t.ok(await eventually(async () => (await app.inject({ url: '/admin/clients', headers: { authorization: `Bearer ${again.access_token}` } })).statusCode === 401),
    'demoted: its sessions ended, so the token is refused')
})

t.test('client secret rotates: the service refuses the old secret, accepts the new', async (t) => {
  const dir = scratchDir(t)
  const { app } = await serviceOn(t, dir)
  const client = await createClient(app, { name: 'batch' })
  const res = await cli(['client', 'secret', client.client_id], FILE_ENV, undefined, dir)
  t.equal(res.code, 0, res.stderr)
  const body = JSON.parse(res.stdout)
  t.equal(body.client_id, client.client_id)
  t.type(body.client_secret, 'string')
  t.equal(body.previous_secret_expires_at, null)
  const grant = (secret: string) => app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials'
  })
  t.equal((await grant(client.client_secret)).statusCode, 401, 'old secret refused')
  t.equal((await grant(body.client_secret)).statusCode, 200, 'new secret works')
})

t.test('with Shared Signals on, user disable and enable from the CLI write their events to the outbox', async (t) => {
  const dir = scratchDir(t)
  mkdirSync(join(dir, 'data'), { recursive: true })
  const store = new SqliteStore(join(dir, 'data', 'token-orchestrator.sqlite'))
  t.teardown(() => store.close())
  const app = await build(t, { store, env: { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256' } })
  const user = await registerUser(app)
  await login(app, user.username)
  const env = { ...FILE_ENV, JWT_ALGORITHM: 'ES256' }
  t.equal((await cli(['user', 'disable', user.username], env, undefined, dir)).code, 0)
  t.equal((await cli(['user', 'enable', user.username], env, undefined, dir)).code, 0)
  const types = (await store.ssfEvents.since(0, 10)).map((e) => e.type.slice(e.type.lastIndexOf('/') + 1))
  t.same(types, ['account-disabled', 'session-revoked', 'account-enabled'])
  const plain = await cli(['user', 'disable', user.username], FILE_ENV, undefined, dir)
  t.equal(plain.code, 0)
  t.equal((await store.ssfEvents.since(0, 10)).length, 3, 'with HS256 (Shared Signals off) nothing is written')
})
