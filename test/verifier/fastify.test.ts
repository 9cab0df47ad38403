// @token-orchestrator/verifier/fastify in a small resource server on loopback,
// in front of a real ES256 service process.
import t from 'tap'
import Fastify from 'fastify'
import verifierPlugin from '@token-orchestrator/verifier/fastify'
import { startService, within } from './support.js'

t.test('a resource server guarded by the plugin', async (t) => {
  const service = await startService(t)
  const reader = await service.createClient(['revocations:read'])

  const api = Fastify({ logger: false })
  await api.register(verifierPlugin, { url: service.url, ...reader })
  api.get('/me', { preHandler: api.requireToken() }, async (request) => ({ sub: request.token?.sub ?? null }))
  api.get('/orders', { preHandler: api.requireToken('orders:read') }, async (request) => ({ client: request.token?.client_id ?? null }))
  api.get('/open', async (request) => ({ token: request.token }))
  await api.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => api.close())
  const address = api.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const get = async (path: string, token?: string): Promise<{ status: number, body: any, headers: Headers }> => {
    const res = await fetch(`${base}${path}`, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} })
    return { status: res.status, body: await res.json(), headers: res.headers }
  }

  const none = await get('/me')
  t.equal(none.status, 401)
  t.same(none.body, { error: 'invalid_token', message: 'a bearer access token is required' })
  t.equal(none.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  const garbage = await get('/me', 'not-a-jwt')
  t.equal(garbage.status, 401)
  t.equal(garbage.body.message, 'the access token is not valid (malformed)')

  const s = await service.newSession()
  const me = await get('/me', s.access_token)
  t.equal(me.status, 200)
  t.type(me.body.sub, 'string', 'request.token holds the claims')
  t.same((await get('/open', s.access_token)).body, { token: null }, 'request.token is null where no guard ran')

  const noScope = await get('/orders', s.access_token)
  t.equal(noScope.status, 403)
  t.same(noScope.body, { error: 'insufficient_scope', message: 'the access token lacks a required scope' })
  t.match(noScope.headers.get('www-authenticate'), /^Bearer error="insufficient_scope", scope="orders:read"$/)

  const shop = await service.createClient(['orders:read'])
  const serviceToken = await service.serviceToken(shop.clientId, shop.clientSecret)
  const orders = await get('/orders', serviceToken)
  t.equal(orders.status, 200)
  t.same(orders.body, { client: shop.clientId })

  await service.call('POST', '/auth/logout', { body: { refresh_token: s.refresh_token } })
  await within(1500, () => !api.verifier.verify(s.access_token).valid)
  const revoked = await get('/me', s.access_token)
  t.equal(revoked.status, 401)
  t.equal(revoked.body.message, 'the access token is not valid (revoked)')
})

t.test('while the revocation state is stale the guard answers 503', async (t) => {
  const service = await startService(t)
  const reader = await service.createClient(['revocations:read'])
  const api = Fastify({ logger: false })
  await api.register(verifierPlugin, { url: service.url, ...reader, maxStaleness: 1 })
  api.get('/me', { preHandler: api.requireToken() }, async (request) => ({ sub: request.token?.sub ?? null }))
  t.teardown(() => api.close())
  const s = await service.newSession()
  const inject = async (): Promise<{ statusCode: number, json: () => any, headers: Record<string, unknown> }> =>
    api.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${s.access_token}` } })
  t.equal((await inject()).statusCode, 200)

  service.child.kill('SIGTERM')
  await service.exited
  await within(4000, () => api.verifier.status().stale)
  const stale = await inject()
  t.equal(stale.statusCode, 503)
  t.equal(stale.json().error, 'revocation_state_stale')
  t.equal(stale.headers['retry-after'], '5')
})

t.test('the plugin accepts a verifier created elsewhere and leaves it open', async (t) => {
  const service = await startService(t)
  const reader = await service.createClient(['revocations:read'])
  const { createVerifier } = await import('@token-orchestrator/verifier')
  const verifier = await createVerifier({ url: service.url, ...reader })
  t.teardown(() => verifier.close())
  const api = Fastify({ logger: false })
  await api.register(verifierPlugin, { verifier })
  await api.ready()
  t.equal(api.verifier, verifier)
  await api.close()
  t.ok(verifier.status().lastSyncAt instanceof Date, 'still usable after the server closed')
  const s = await service.newSession()
  t.equal(verifier.verify(s.access_token).valid, true)
})
