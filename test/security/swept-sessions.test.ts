// An access token can outlive its session row: the SQLite sweep deletes a
// session once its refresh token has expired, and a client may have a refresh
// token lifetime shorter than its access tokens'. Logout-all, a disable, a
// password reset and a role removal must still refuse such a token: they
// revoke the user's earlier tokens as a whole, not session by session.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, login, PASSWORD, registerUser, uniqueName, validate } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient } from '../support/clients.js'
import { memoryStore } from '../support/stores.js'

const actions: Record<string, (app: FastifyInstance, user: { id: string, username: string }, admin: string) => Promise<number>> = {
  'logout-all': async (app, user) => {
    const own = await login(app, user.username)
    return (await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${own.access_token}` } })).statusCode
  },
  'an admin disable': async (app, user, admin) =>
    (await app.inject({ method: 'POST', url: `/admin/users/${user.id}/disable`, headers: { authorization: `Bearer ${admin}` } })).statusCode,
  'an admin password reset': async (app, user, admin) =>
    (await app.inject({ method: 'POST', url: `/admin/users/${user.id}/password`, headers: { authorization: `Bearer ${admin}` }, payload: { new_password: 'a brand new passphrase' } })).statusCode,
  'a role removal': async (app, user, admin) =>
    (await app.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: { authorization: `Bearer ${admin}` }, payload: { roles: [] } })).statusCode
}

for (const [name, act] of Object.entries(actions)) {
  t.test(`${name} refuses an access token whose session row the sweep has deleted`, async (t) => {
    const store = memoryStore()
    t.teardown(() => store.close())
    const app = await build(t, { store, env: ADMIN_ENV })
    const admin = await adminToken(app)
    const client = await createClient(app, { name: 'short refresh', public: true, grants: ['password', 'refresh_token'], refresh_token_ttl: 1 }, admin)
    const user = await registerUser(app, uniqueName('swept'))
    if (name === 'a role removal') {
      await app.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: { authorization: `Bearer ${admin}` }, payload: { roles: ['ops'] } })
    }
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: client.client_id } })
    t.equal(res.statusCode, 200)
    const { access_token: access, expires_in: expiresIn } = res.json() as { access_token: string, expires_in: number }
    t.ok(expiresIn > 60, 'the access token outlives its one-second refresh token')
    const sid = (await validate(app, access)).claims?.sid as string

    // The sweep, for real, at a time past the refresh token's expiry but well inside the access token's.
    t.ok(await store.sweep(new Date(Date.now() + 10_000)) >= 1, 'the sweep deleted rows')
    t.equal(await store.sessions.find(sid), null, 'the session row is gone')
    t.equal((await validate(app, access)).valid, true, 'the access token still validates before the action')

    // Tokens issued in an earlier second than the action are what a user entry covers.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    t.ok((await act(app, user, admin)) < 300, `${name} is answered`)
    t.same(await validate(app, access), { valid: false, error: 'revoked' }, 'the swept session\'s token is refused')
    const gateway = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${access}` } })
    t.equal(gateway.statusCode, 401, 'and by the gateway check')
  })
}
