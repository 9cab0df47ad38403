// /admin/clients/:id/enable and /admin/clients/:id/secret. Enabling lets only
// new tokens work (tokens from before the disable stay refused, refresh tokens
// included); rotating refuses the old secret at once, or after
// CLIENT_SECRET_GRACE. Store failures leave the old state.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { memoryStore } from '../support/stores.js'
import { CLIENT_DISABLE_MARGIN_SECONDS, RevocationList } from '../../src/revocation/revocation-list.js'
import { build, registerUser, validate, PASSWORD } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient, disableClient } from '../support/clients.js'
import { faultyStore } from '../support/faulty-store.js'

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

function serviceToken (app: FastifyInstance, id: string, secret: string) {
  return app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials'
  })
}
const post = (app: FastifyInstance, token: string, url: string) =>
  app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` } })

t.test('the revocation list: a client entry refuses tokens issued up to the disable (plus the margin), not later ones', async (t) => {
  const list = new RevocationList()
  const disabledAt = new Date('2026-11-29T12:00:00.400Z')
  const at = Math.floor(disabledAt.getTime() / 1000)
  list.apply({ kind: 'client', value: 'c1', expiresAt: new Date(disabledAt.getTime() + 900_000), createdAt: disabledAt })
  t.equal(list.isRevoked('j', undefined, 'c1', at - 100), true, 'issued before')
  t.equal(list.isRevoked('j', undefined, 'c1', at + CLIENT_DISABLE_MARGIN_SECONDS), true, 'issued within the margin')
  t.equal(list.isRevoked('j', undefined, 'c1', at + CLIENT_DISABLE_MARGIN_SECONDS + 1), false, 'issued after')
  t.equal(list.isRevoked('j', undefined, 'c1'), true, 'no iat: refused')
  t.equal(list.isRevoked('j', undefined, 'c2', at - 100), false, 'another client')
  t.equal(list.isClientDisabled('c1', at), true)
  t.equal(list.isClientDisabled('c1', at + 60), false)
  // A later disable moves the cutoff forward; an older entry replayed does not move it back.
  const later = new Date(disabledAt.getTime() + 60_000)
  list.apply({ kind: 'client', value: 'c1', expiresAt: new Date(later.getTime() + 900_000), createdAt: later })
  list.apply({ kind: 'client', value: 'c1', expiresAt: new Date(disabledAt.getTime() + 900_000), createdAt: disabledAt })
  t.equal(list.isRevoked('j', undefined, 'c1', at + 30), true)
  // An entry without its time (an old writer) covers every token of the client.
  list.apply({ kind: 'client', value: 'c3', expiresAt: new Date(disabledAt.getTime() + 900_000) })
  t.equal(list.isRevoked('j', undefined, 'c3', at + 600), true)
  list.sweep(at + 10_000)
  t.equal(list.isRevoked('j', undefined, 'c1'), false, 'swept with its entry')
})

t.test('enable: the client works again for new tokens; old access and refresh tokens stay refused', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN_ENV, store })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'Shop', grants: ['password', 'refresh_token', 'client_credentials'] }, admin)
  const user = await registerUser(app)
  const login = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: basic(client.client_id, client.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=password&username=${user.username}&password=${encodeURIComponent(PASSWORD)}`
  })
  t.equal(login.statusCode, 200)
  const oldPair = login.json()
  const oldService = (await serviceToken(app, client.client_id, client.client_secret)).json().access_token

  await disableClient(app, client.client_id)
  t.equal((await serviceToken(app, client.client_id, client.client_secret)).statusCode, 401, 'disabled: no tokens')
  // The margin after the disable is part of what it covers.
  await new Promise((resolve) => setTimeout(resolve, (CLIENT_DISABLE_MARGIN_SECONDS + 1) * 1000))

  const res = await post(app, admin, `/admin/clients/${client.client_id}/enable`)
  t.equal(res.statusCode, 200)
  t.equal(res.json().disabled, false)
  t.equal(res.json().client_id, client.client_id)
  t.notOk('client_secret' in res.json(), 'no secret shown')
  t.equal((await store.clients.find(client.client_id))?.disabled, false)

  const fresh = await serviceToken(app, client.client_id, client.client_secret)
  t.equal(fresh.statusCode, 200, 'enabled: tokens again')
  t.equal((await validate(app, fresh.json().access_token)).valid, true, 'a new token validates')
  t.same(await validate(app, oldService), { valid: false, error: 'revoked' }, 'a token from before the disable stays refused')
  t.same(await validate(app, oldPair.access_token), { valid: false, error: 'revoked' }, 'a user token from before too')
  const refresh = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: basic(client.client_id, client.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=refresh_token&refresh_token=${oldPair.refresh_token}`
  })
  t.equal(refresh.statusCode, 400, 'an old refresh token stays refused')
  t.equal(refresh.json().error, 'invalid_grant')

  t.equal((await post(app, admin, `/admin/clients/${client.client_id}/enable`)).statusCode, 200, 'idempotent')
  const missing = await post(app, admin, '/admin/clients/nobody/enable')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: 'not_found', message: 'no such client' })
})

t.test('secret rotation without grace: shown once, the old secret refused at once', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN_ENV, store })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'Batch' }, admin)
  const before = (await serviceToken(app, client.client_id, client.client_secret)).json().access_token
  const res = await post(app, admin, `/admin/clients/${client.client_id}/secret`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.type(body.client_secret, 'string')
  t.ok(body.client_secret.length >= 43, '256-bit secret')
  t.not(body.client_secret, client.client_secret)
  t.equal(body.previous_secret_expires_at, null)
  const stored = await store.clients.find(client.client_id)
  t.match(stored?.secretHash, /^\$argon2id\$/)
  t.notMatch(JSON.stringify(stored), new RegExp(body.client_secret), 'only the hash is stored')

  const old = await serviceToken(app, client.client_id, client.client_secret)
  t.equal(old.statusCode, 401, 'the old secret is refused at once')
  t.equal(old.json().error, 'invalid_client')
  t.equal((await serviceToken(app, client.client_id, body.client_secret)).statusCode, 200, 'the new one works')
  t.equal((await validate(app, before)).valid, true, 'tokens already issued are not affected')
  const list = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${admin}` } })
  t.notMatch(list.body, new RegExp(body.client_secret), 'the list never shows it')
  t.equal((await post(app, admin, '/admin/clients/nobody/secret')).statusCode, 404)
})

t.test('secret rotation with CLIENT_SECRET_GRACE: the old secret works until the grace ends', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: { ...ADMIN_ENV, CLIENT_SECRET_GRACE: '2' }, store })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'Batch' }, admin)
  const res = await post(app, admin, `/admin/clients/${client.client_id}/secret`)
  const body = res.json()
  const until = Date.parse(body.previous_secret_expires_at)
  t.ok(until > Date.now() && until <= Date.now() + 3000, 'previous_secret_expires_at is about 2 s away')
  t.equal((await serviceToken(app, client.client_id, client.client_secret)).statusCode, 200, 'old secret within the grace')
  t.equal((await serviceToken(app, client.client_id, body.client_secret)).statusCode, 200, 'new secret')
  t.equal((await serviceToken(app, client.client_id, 'wrong secret')).statusCode, 401, 'a wrong one is still wrong')
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 1100))
  t.equal((await serviceToken(app, client.client_id, client.client_secret)).statusCode, 401, 'old secret after the grace')
  t.equal((await serviceToken(app, client.client_id, body.client_secret)).statusCode, 200)
  // A second rotation forgets the first secret for good.
  const second = (await post(app, admin, `/admin/clients/${client.client_id}/secret`)).json()
  t.equal((await serviceToken(app, client.client_id, body.client_secret)).statusCode, 200, 'the previous one in its grace')
  t.equal((await serviceToken(app, client.client_id, client.client_secret)).statusCode, 401, 'the first one: never again')
  t.equal((await serviceToken(app, client.client_id, second.client_secret)).statusCode, 200)
})

t.test('store down: 503 and the old state stays', async (t) => {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  const store = faultyStore(inner)
  const app = await build(t, { env: ADMIN_ENV, store })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'Batch' }, admin)
  await disableClient(app, client.client_id)
  const hash = (await inner.clients.find(client.client_id))?.secretHash
  // The guard reads the store too: break only the client writes.
  const setSecret = inner.clients.setSecret.bind(inner.clients)
  const setDisabled = inner.clients.setDisabled.bind(inner.clients)
  const { StoreUnavailableError } = await import('../../src/errors.js')
  inner.clients.setSecret = async () => { throw new StoreUnavailableError() }
  inner.clients.setDisabled = async () => { throw new StoreUnavailableError() }
  const rotate = await post(app, admin, `/admin/clients/${client.client_id}/secret`)
  const enable = await post(app, admin, `/admin/clients/${client.client_id}/enable`)
  inner.clients.setSecret = setSecret
  inner.clients.setDisabled = setDisabled
  t.equal(rotate.statusCode, 503)
  t.notOk('client_secret' in rotate.json(), 'no secret is shown when none was stored')
  t.equal(enable.statusCode, 503)
  const after = await inner.clients.find(client.client_id)
  t.equal(after?.secretHash, hash, 'the secret is unchanged')
  t.equal(after?.disabled, true, 'still disabled')
  store.down = true
  t.equal((await post(app, admin, `/admin/clients/${client.client_id}/enable`)).statusCode, 503)
  store.down = false
})
