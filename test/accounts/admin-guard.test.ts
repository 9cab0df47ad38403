// The admin guard reads the caller's current roles and disabled flag from the
// store on every request: a demoted or disabled admin is refused at once, with
// a token that has not expired; a token's own `roles` claim grants nothing.
// Only a first-party login's token (client `default`) opens /admin: an admin's
// token obtained through a third-party client could be replayed by that
// client's backend.
import t from 'tap'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient, type CreatedClient } from '../support/clients.js'
import { accessToken } from '../support/tokens.js'

t.test('a demoted admin is refused at once; a promoted user is admitted at once', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN_ENV, store })
  const second = await newSession(app)
  await store.users.setRoles(second.userId, ['admin'])
  const list = (token: string) => app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${token}` } })
  t.equal((await list(second.access_token)).statusCode, 200, 'promoted in the store: admitted with the token issued before')

  await store.users.setRoles(second.userId, [])
  const demoted = await list(second.access_token)
  t.equal(demoted.statusCode, 403, 'demoted in the store: refused with the same unexpired token')
  t.same(demoted.json(), { error: 'forbidden', message: 'the admin role is required' })

  const root = await login(app, ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
  t.equal((await list(root.access_token)).statusCode, 200)
  const rootUser = await store.users.findByUsername(ADMIN_ENV.ADMIN_USERNAME)
  await store.users.setDisabled(rootUser!.id, true)
  const disabled = await list(root.access_token)
  t.equal(disabled.statusCode, 401, 'a disabled admin is refused at once')
  t.same(disabled.json(), { error: 'invalid_token', message: 'the account is disabled' })
  t.equal(disabled.headers['www-authenticate'], 'Bearer error="invalid_token"')
})

t.test('a token claiming the admin role for a user without it is refused', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const user = await newSession(app)
  const claims = JSON.parse(Buffer.from(user.access_token.split('.')[1]!, 'base64url').toString())
  // Signed with the service key (as a leaked key or a stale claim would be): the store decides.
  const forged = accessToken({ ...claims, jti: 'forged-admin', roles: ['admin'] })
  const res = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${forged}` } })
  t.equal(res.statusCode, 403)
  const service = accessToken({ sid: undefined, sub: 'some-client', roles: ['admin'] })
  t.equal((await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${service}` } })).statusCode, 403, 'no such user')
})

t.test('a delegated (exchanged) token of an admin is refused', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const root = await login(app, ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
  const claims = JSON.parse(Buffer.from(root.access_token.split('.')[1]!, 'base64url').toString())
  const delegated = accessToken({ ...claims, jti: 'delegated', act: { sub: 'orders-service' } })
  const res = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${delegated}` } })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'forbidden')
})

t.test('store down: the guard answers 503, not 403', async (t) => {
  const { faultyStore } = await import('../support/faulty-store.js')
  const inner = memoryStore()
  t.teardown(() => inner.close())
  const store = faultyStore(inner)
  const app = await build(t, { env: ADMIN_ENV, store })
  const root = await login(app, ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
  store.down = true
  const res = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${root.access_token}` } })
  store.down = false
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'store_unavailable')
})

t.test('only a first-party login\'s token opens /admin: not one issued to a third-party client, nor an exchanged one', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const admin = await adminToken(app)
  const form = (params: Record<string, string>, client?: CreatedClient) => app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(client !== undefined ? { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` } : {})
    },
    payload: new URLSearchParams(params).toString()
  })
  const asAdmin = { grant_type: 'password', username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD }
  const list = (token: string) => app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${token}` } })
  const refused = { error: 'forbidden', message: 'the admin API takes only a first-party login\'s token (client default)' }

  const firstParty = await form({ ...asAdmin, client_id: 'default' })
  t.equal(firstParty.statusCode, 200, firstParty.body)
  t.equal((await list(firstParty.json().access_token)).statusCode, 200, 'the default client through /oauth/token is first-party')

  const spa = await createClient(app, { name: 'spa', public: true }, admin)
  const viaPublic = await form({ ...asAdmin, client_id: spa.client_id })
  t.equal(viaPublic.statusCode, 200, viaPublic.body)
  const publicRes = await list(viaPublic.json().access_token)
  t.equal(publicRes.statusCode, 403, 'an admin\'s token issued to a third-party public client')
  t.same(publicRes.json(), refused)

  const partner = await createClient(app, { name: 'partner', grants: ['password', 'refresh_token'] }, admin)
  const viaConfidential = await form(asAdmin, partner)
  t.equal(viaConfidential.statusCode, 200, viaConfidential.body)
  const confidentialRes = await list(viaConfidential.json().access_token)
  t.equal(confidentialRes.statusCode, 403, 'an admin\'s token issued to a third-party confidential client')
  t.same(confidentialRes.json(), refused)

  const gateway = await createClient(app, { name: 'gateway', grants: ['urn:ietf:params:oauth:grant-type:token-exchange'] }, admin)
  const exchanged = await form({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: admin,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token'
  }, gateway)
  t.equal(exchanged.statusCode, 200, exchanged.body)
  const exchangedToken: string = exchanged.json().access_token
  const validated = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: exchangedToken } })
  t.equal(validated.json().valid, true, 'the exchanged token is valid elsewhere')
  const exchangedRes = await list(exchangedToken)
  t.equal(exchangedRes.statusCode, 403, 'an exchanged admin token')
  t.same(exchangedRes.json(), refused)

  t.equal((await list(admin)).statusCode, 200, 'the admin\'s own login still works')
})
