// A disabled client's tokens of every kind stay inactive for as long as any of
// them could be used, also after its revocation entry (kept for an access-token
// lifetime) has expired and on an instance that never saw that entry.
import t from 'tap'
import { memoryStore } from '../support/stores.js'
import { build, newSession, PASSWORD } from '../helper.js'
import { ADMIN_ENV, createClient, disableClient } from '../support/clients.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

t.test('a disabled client\'s refresh tokens stay inactive after its revocation entry expired', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  // Access tokens live 1 s, so the client's revocation entry expires after 1 s; sessions live for hours.
  const env = { ...ADMIN_ENV, ACCESS_TOKEN_TTL: '1' }
  const a = await build(t, { env, store })
  const client = await createClient(a, { name: 'app', grants: ['password', 'refresh_token'] })
  const rs = await createClient(a, { name: 'rs', scopes: ['tokens:introspect'] })
  const user = await newSession(a)
  const pair = (await a.inject({
    method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(client.client_id, client.client_secret) },
    payload: new URLSearchParams({ grant_type: 'password', username: user.username, password: PASSWORD }).toString()
  })).json()
  await disableClient(a, client.client_id)

  await new Promise((resolve) => setTimeout(resolve, 1200))
  // An instance started now loads only unexpired revocations: the client's entry is gone.
  const b = await build(t, { env, store })
  // B first: a refused /auth/refresh ends the session, which would hide what introspection says.
  for (const [name, app] of [['B', b], ['A', a]] as const) {
    const info = await app.inject({
      method: 'POST', url: '/oauth/introspect', headers: { ...FORM, authorization: basic(rs.client_id, rs.client_secret) },
      payload: new URLSearchParams({ token: pair.refresh_token, token_type_hint: 'refresh_token' }).toString()
    })
    t.equal(info.body, '{"active":false}', `introspection on ${name}`)
    const refreshed = await app.inject({
      method: 'POST', url: '/oauth/token', headers: { ...FORM, authorization: basic(client.client_id, client.client_secret) },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pair.refresh_token }).toString()
    })
    t.equal(refreshed.statusCode, 401, `/oauth/token refresh on ${name}: the client itself is refused`)
    const viaAuth = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
    t.equal(viaAuth.statusCode, 401, `/auth/refresh on ${name}`)
  }
})
