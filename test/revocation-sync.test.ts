// Revocation across instances: two app instances share one
// store; what one revokes, the other refuses within about a second. While the
// store is unreachable, validate keeps answering from the last synced state,
// the sync lag grows in /metrics, and everything recovers when it returns.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, newSession, validate } from './helper.js'
import { faultyStore } from './support/faulty-store.js'
import { memoryStore } from './support/stores.js'
import { eventually, WITHIN_MS } from './support/eventually.js'

const refusedOn = (app: FastifyInstance, token: string) => async () => (await validate(app, token)).error === 'revoked'

async function metric (app: FastifyInstance, name: string): Promise<number> {
  const res = await app.inject({ url: '/metrics' })
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  if (line === undefined) throw new Error(`metric ${name} not found`)
  return Number(line.slice(line.lastIndexOf(' ') + 1))
}

t.test('logout, revoke and logout-all on A are refused by validate on B', async (t) => {
  const store = memoryStore()
  const a = await build(t, { store })
  const b = await build(t, { store })

  const s1 = await newSession(a)
  const s2 = await newSession(a)
  const s3 = await newSession(a)
  for (const s of [s1, s2, s3]) t.equal((await validate(b, s.access_token)).valid, true, 'valid on B before')

  const logout = await a.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s1.refresh_token } })
  t.equal(logout.statusCode, 204)
  t.equal((await validate(a, s1.access_token)).error, 'revoked', 'A refuses at once')
  const took = await eventually(refusedOn(b, s1.access_token))
  t.ok(took < WITHIN_MS, `B refused the logged-out session after ${took} ms`)

  const revoke = await a.inject({ method: 'POST', url: '/token/revoke', payload: { token: s2.access_token } })
  t.same(revoke.json(), { revoked: true })
  await eventually(refusedOn(b, s2.access_token))
  t.pass('B refuses the revoked jti')

  const all = await a.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${s3.access_token}` } })
  t.equal(all.statusCode, 204)
  await eventually(refusedOn(b, s3.access_token))
  t.pass('B refuses the tokens of every session of the user')

  // The refresh token of the ended session is refused on B as well.
  const refresh = await b.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s1.refresh_token } })
  t.equal(refresh.statusCode, 401)
})

t.test('store outage: B answers from its last state, reports the lag, and recovers', async (t) => {
  const store = faultyStore(memoryStore())
  const a = await build(t, { store })
  const b = await build(t, { store })

  const live = await newSession(a)
  const ended = await newSession(a)
  await a.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: ended.refresh_token } })
  await eventually(refusedOn(b, ended.access_token))
  t.ok(await metric(b, 'token_orchestrator_revocation_sync_lag_seconds') < 1, 'lag is small while the store answers')

  store.down = true
  const refusedBefore = store.refused
  t.equal((await validate(b, live.access_token)).valid, true, 'a live token stays valid')
  t.equal((await validate(b, ended.access_token)).error, 'revoked', 'a revoked one stays revoked')
  await eventually(async () => store.refused > refusedBefore)
  t.pass('the follower keeps trying while the store is down')

  const lagDuring = await (async () => {
    let lag = 0
    await eventually(async () => { lag = await metric(b, 'token_orchestrator_revocation_sync_lag_seconds'); return lag >= 1 })
    return lag
  })()
  t.ok(lagDuring >= 1, `the sync lag grows while the store is down (${lagDuring} s)`)
  const batch = await b.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [live.access_token, ended.access_token] } })
  t.same(batch.json().results.map((r: { valid: boolean, error?: string }) => r.error ?? 'valid'), ['valid', 'revoked'])
  t.equal((await b.inject({ url: '/ready' })).statusCode, 503, '/ready tells the store is down')
  const logout = await a.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: live.refresh_token } })
  t.equal(logout.statusCode, 503, 'logout cannot be written while the store is down')
  t.equal(logout.json().error, 'store_unavailable')
  t.equal((await validate(b, live.access_token)).valid, true, 'nothing was half-written')

  store.down = false
  await eventually(async () => await metric(b, 'token_orchestrator_revocation_sync_lag_seconds') < 1)
  t.pass('the lag drops back once the store answers')
  const again = await a.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: live.refresh_token } })
  t.equal(again.statusCode, 204)
  await eventually(refusedOn(b, live.access_token))
  t.pass('revocations flow to B again after recovery')
})
