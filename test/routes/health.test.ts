// /health (liveness) and /ready (readiness: the store answers), including a
// store outage and the recovery from it.
import t from 'tap'
import { build, newSession, validate } from '../helper.js'
import { memoryStore } from '../support/stores.js'
import { faultyStore } from '../support/faulty-store.js'

t.test('/health and /ready answer 200 when all is well', async (t) => {
  const app = await build(t)
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  t.match(health.headers['content-type'], /^application\/json/)
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
  const head = await app.inject({ method: 'HEAD', url: '/ready' })
  t.equal(head.statusCode, 200, 'HEAD works for probes that use it')
})

t.test('store down: not ready (503 store_unavailable), still alive, validate still answers; then recovers', async (t) => {
  const store = faultyStore(memoryStore())
  const app = await build(t, { store })
  const session = await newSession(app)

  store.down = true
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { error: 'store_unavailable', message: 'the token store is unavailable, try again later' })
  t.notMatch(ready.body, /simulated|stack/, 'no driver detail in the answer')
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, 'liveness does not depend on the store')
  t.same(health.json(), { status: 'ok' })
  t.equal((await validate(app, session.access_token)).valid, true, 'validate answers from memory')
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: session.username, password: 'correct horse battery staple' } })
  t.equal(login.statusCode, 503, 'login needs the store')

  store.down = false
  const again = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(again.statusCode, 200, 'ready again once the store answers')
  t.same(again.json(), { status: 'ok' })
})
