// What each action sends (the CAEP and RISC mapping), as a poll receiver sees
// it: every SET verified with jose against the published JWKS. Then the poll
// contract (RFC 8936): acknowledgements, maxEvents, moreAvailable, setErrs,
// returnImmediately and the long-poll; stream status; and the outbox written
// before the action answers.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { StoreUnavailableError } from '../../src/errors.js'
import type { Store } from '../../src/store/types.js'
import { login, newSession, PASSWORD, registerUser, uniqueName, validate } from '../helper.js'
import { adminToken, createClient, disableClient } from '../support/clients.js'
import { memoryStore } from '../support/stores.js'
import {
  ACCOUNT_DISABLED, ACCOUNT_ENABLED, ALL_EVENTS, CREDENTIAL_CHANGE, localKeys, newReceiver, pollStream, SESSION_REVOKED, SSF_ENV,
  ssfApp, ssfRequest, VERIFICATION, verifySet, type Receiver, type VerifiedSet
} from '../support/ssf.js'

const ISSUER = SSF_ENV.PUBLIC_URL!
// Tokens' iss defaults to the metadata issuer (PUBLIC_URL), so a user's iss_sub names it too.
const TOKEN_ISSUER = ISSUER
const claimsOf = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())

interface Poller {
  poll: (body?: Record<string, unknown>) => Promise<{ sets: VerifiedSet[], raw: Record<string, string>, moreAvailable?: boolean }>
  /** Everything pending now, acknowledged. */
  drain: () => Promise<VerifiedSet[]>
}

function poller (app: FastifyInstance, receiver: Receiver, streamId: string): Poller {
  const poll: Poller['poll'] = async (body = { returnImmediately: true }) => {
    const res = await ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, body)
    if (res.statusCode !== 200) throw new Error(`poll: ${res.statusCode} ${res.body}`)
    const answer = res.json() as { sets: Record<string, string>, moreAvailable?: boolean }
    const keys = await localKeys(app)
    const sets: VerifiedSet[] = []
    for (const [jti, set] of Object.entries(answer.sets)) {
      const verified = await verifySet(set, keys, ISSUER, receiver.clientId)
      if (verified.jti !== jti) throw new Error('the key is the SET\'s jti')
      sets.push(verified)
    }
    return { sets, raw: answer.sets, ...(answer.moreAvailable !== undefined ? { moreAvailable: answer.moreAvailable } : {}) }
  }
  return {
    poll,
    drain: async () => {
      const { sets } = await poll({ returnImmediately: true, maxEvents: 1000 })
      if (sets.length > 0) await poll({ ack: sets.map((s) => s.jti), maxEvents: 0 })
      return sets
    }
  }
}

async function setup (t: Test, env: Record<string, string> = {}, events = ALL_EVENTS) {
  const { app, store } = await ssfApp(t, { env })
  const receiver = await newReceiver(app)
  const streamId = await pollStream(app, receiver, events)
  return { app, store, receiver, streamId, ...poller(app, receiver, streamId) }
}

const userOf = (userId: string) => ({ format: 'iss_sub', iss: TOKEN_ISSUER, sub: userId })

t.test('logout: one CAEP session-revoked, its subject the user and the session', async (t) => {
  const { app, drain } = await setup(t)
  const session = await newSession(app)
  const sid = claimsOf(session.access_token).sid as string
  const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  t.equal(res.statusCode, 204)
  const sets = await drain()
  t.equal(sets.length, 1)
  const set = sets[0]!
  t.equal(set.type, SESSION_REVOKED)
  t.same(set.claims.sub_id, { format: 'complex', user: userOf(session.userId), session: { format: 'opaque', id: sid } })
  t.match(set.event, { initiating_entity: 'user', reason_admin: { en: 'logout' } })
  t.ok(Math.abs(set.event.event_timestamp - Date.now() / 1000) < 60, 'event_timestamp: when it happened')
  t.equal(typeof set.claims.txn, 'string')
  t.ok(Math.abs((set.claims.iat ?? 0) - Date.now() / 1000) < 60, 'iat')
  t.match(set.jti, /^[A-Za-z0-9_-]{22}$/)

  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })).statusCode, 204)
  t.same(await drain(), [], 'logging out an ended session again sends nothing')
})

t.test('logout-all: a session-revoked for every session, one txn; a password change adds credential-change', async (t) => {
  const { app, drain } = await setup(t)
  const user = await registerUser(app)
  const a = await login(app, user.username)
  const b = await login(app, user.username)
  const c = await login(app, user.username)
  const res = await app.inject({
    method: 'POST',
    url: '/auth/password',
    headers: { authorization: `Bearer ${c.access_token}` },
    payload: { current_password: PASSWORD, new_password: 'another long password 123' }
  })
  t.equal(res.statusCode, 204, res.body)
  const changed = await drain()
  const revoked = changed.filter((s) => s.type === SESSION_REVOKED)
  t.same(revoked.map((s) => s.claims.sub_id.session.id).sort(), [claimsOf(a.access_token).sid, claimsOf(b.access_token).sid].sort(),
    'the other sessions ended; the one that changed the password goes on')
  t.ok(revoked.every((s) => s.event.reason_admin.en === 'password_changed' && s.event.initiating_entity === 'user'))
  const credential = changed.filter((s) => s.type === CREDENTIAL_CHANGE)
  t.equal(credential.length, 1)
  t.same(credential[0]!.claims.sub_id, userOf(user.id))
  t.match(credential[0]!.event, { credential_type: 'password', change_type: 'update', initiating_entity: 'user' })

  const d = await login(app, user.username, 'another long password 123')
  const all = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${d.access_token}` } })
  t.equal(all.statusCode, 204)
  const ended = await drain()
  t.same(ended.map((s) => s.claims.sub_id.session.id).sort(), [claimsOf(c.access_token).sid, claimsOf(d.access_token).sid].sort())
  t.ok(ended.every((s) => s.type === SESSION_REVOKED), 'logout-all changes no credential: session-revoked only')
  t.equal(new Set(ended.map((s) => s.claims.txn)).size, 1, 'one action, one txn')
})

t.test('admin actions: user disable and enable (RISC), password reset, session delete, client disable', async (t) => {
  const { app, drain } = await setup(t)
  const admin = await adminToken(app)
  const asAdmin = { authorization: `Bearer ${admin}` }
  await drain()
  const session = await newSession(app)

  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${session.userId}/disable`, headers: asAdmin })).statusCode, 200)
  const disabled = await drain()
  t.same(disabled.map((s) => s.type), [ACCOUNT_DISABLED, SESSION_REVOKED], 'account-disabled, then its sessions end')
  t.same(disabled[0]!.claims.sub_id, userOf(session.userId))
  t.match(disabled[1]!.event, { initiating_entity: 'admin', reason_admin: { en: 'user_disabled' } })

  t.equal((await app.inject({ method: 'POST', url: `/admin/users/${session.userId}/enable`, headers: asAdmin })).statusCode, 200)
  const enabled = await drain()
  t.same(enabled.map((s) => s.type), [ACCOUNT_ENABLED])
  t.same(enabled[0]!.claims.sub_id, userOf(session.userId))

  const again = await login(app, session.username)
  const reset = await app.inject({ method: 'POST', url: `/admin/users/${session.userId}/password`, headers: asAdmin, payload: { new_password: 'a brand new password 42' } })
  t.equal(reset.statusCode, 204, reset.body)
  const resetSets = await drain()
  t.same(resetSets.map((s) => s.type).sort(), [CREDENTIAL_CHANGE, SESSION_REVOKED].sort())
  t.match(resetSets.find((s) => s.type === CREDENTIAL_CHANGE)?.event, { initiating_entity: 'admin', reason_admin: { en: 'password_reset' } })
  t.equal(resetSets.find((s) => s.type === SESSION_REVOKED)?.claims.sub_id.session.id, claimsOf(again.access_token).sid)

  const other = await newSession(app)
  const sid = claimsOf(other.access_token).sid as string
  t.equal((await app.inject({ method: 'DELETE', url: `/admin/sessions/${sid}`, headers: asAdmin })).statusCode, 204)
  const deleted = await drain()
  t.equal(deleted.length, 1)
  t.match(deleted[0], { type: SESSION_REVOKED, event: { initiating_entity: 'admin' } })

  const client = await createClient(app, { name: 'app', public: true })
  await disableClient(app, client.client_id)
  const clientSets = await drain()
  t.equal(clientSets.length, 1, 'one event for all of the client\'s sessions')
  t.same(clientSets[0]!.claims.sub_id, { format: 'complex', application: { format: 'opaque', id: client.client_id } })
  t.match(clientSets[0]!.event, { initiating_entity: 'admin', reason_admin: { en: 'client_disabled' } })
})

t.test('refresh token reuse ends the session: session-revoked, initiated by policy', async (t) => {
  const { app, drain } = await setup(t)
  const session = await newSession(app)
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: session.refresh_token } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: session.refresh_token } })).statusCode, 401)
  const sets = await drain()
  t.equal(sets.length, 1)
  t.match(sets[0], { type: SESSION_REVOKED, event: { initiating_entity: 'policy', reason_admin: { en: 'refresh_token_reuse' } } })
})

t.test('a stream gets only the types it asked for; verification always', async (t) => {
  const { app, receiver, streamId, drain } = await setup(t, {}, [ACCOUNT_DISABLED])
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  await app.inject({ method: 'POST', url: `/admin/users/${session.userId}/disable`, headers: { authorization: `Bearer ${await adminToken(app)}` } })
  t.equal((await ssfRequest(app, receiver, 'POST', '/ssf/verify', { stream_id: streamId, state: 'xyz' })).statusCode, 204)
  const sets = await drain()
  t.same(sets.map((s) => s.type), [ACCOUNT_DISABLED, VERIFICATION])
  t.same(sets[1]!.claims.sub_id, { format: 'opaque', id: streamId })
  t.same(sets[1]!.event, { state: 'xyz' })
})

t.test('SSF_EMAIL_SUBJECTS: a username that is an email address is sent as an email alias too', async (t) => {
  const { app, drain } = await setup(t, { SSF_EMAIL_SUBJECTS: 'true' })
  const email = `${uniqueName('alice')}@example.com`
  const user = await registerUser(app, email)
  const session = await login(app, email)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  const plain = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: plain.refresh_token } })
  const sets = await drain()
  t.same(sets[0]!.claims.sub_id.user, { format: 'aliases', identifiers: [userOf(user.id), { format: 'email', email: email.toLowerCase() }] })
  t.same(sets[1]!.claims.sub_id.user, userOf(plain.userId), 'a username that is not an email: iss_sub alone')
})

t.test('poll: maxEvents, moreAvailable, unacknowledged SETs come again with the same jti, acks in any order', async (t) => {
  const { app, poll } = await setup(t)
  const jtis: string[] = []
  for (let i = 0; i < 3; i++) {
    const session = await newSession(app)
    await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  }
  const first = await poll({ maxEvents: 2, returnImmediately: true })
  t.equal(first.sets.length, 2)
  t.equal(first.moreAvailable, true)
  jtis.push(...first.sets.map((s) => s.jti))
  const again = await poll({ maxEvents: 2, returnImmediately: true })
  t.same(again.sets.map((s) => s.jti), jtis, 'not acknowledged: the same SETs, same jtis')
  t.same(again.sets.map((s) => s.claims), first.sets.map((s) => s.claims), 'the same claims (iat included); only an ES256 signature differs')
  const all = await poll({ maxEvents: 10, returnImmediately: true })
  t.equal(all.sets.length, 3)
  t.equal(all.moreAvailable, undefined, 'nothing more: moreAvailable left out')
  const [a, b, c] = all.sets.map((s) => s.jti) as [string, string, string]

  const afterB = await poll({ ack: [b], returnImmediately: true })
  t.same(afterB.sets.map((s) => s.jti), [a, c], 'exactly the unacknowledged ones, oldest first')
  const onlyAck = await poll({ ack: [c, 'unknown-jti'], maxEvents: 0 })
  t.same(onlyAck.sets, [], 'maxEvents 0: acknowledge only; an unknown jti is ignored')
  t.same((await poll()).sets.map((s) => s.jti), [a])
  t.same((await poll({ setErrs: { [a]: { err: 'invalid_key', description: 'unknown kid' } }, returnImmediately: true })).sets, [],
    'a SET reported in setErrs counts as processed')
  t.same((await poll()).sets, [])
})

t.test('poll: without returnImmediately the answer waits for the next event', async (t) => {
  const { app, poll } = await setup(t)
  const session = await newSession(app)
  const started = Date.now()
  const waiting = poll({})
  await new Promise((resolve) => setTimeout(resolve, 300))
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  const answer = await waiting
  t.equal(answer.sets.length, 1, 'the logout\'s SET')
  t.ok(Date.now() - started < 10_000, `answered as the event came (${Date.now() - started} ms)`)
  const quick = Date.now()
  t.same((await poll({ returnImmediately: true })).sets.length, 1, 'returnImmediately: answers at once')
  t.ok(Date.now() - quick < 5000)
})

t.test('poll: refused on a push stream; input limits', async (t) => {
  const { app, receiver, streamId } = await setup(t)
  const push = await ssfRequest(app, receiver, 'POST', '/ssf/streams', { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'http://127.0.0.1:9/x' } })
  const res = await ssfRequest(app, receiver, 'POST', `/ssf/poll/${push.json().stream_id as string}`, { returnImmediately: true })
  t.equal(res.statusCode, 400)
  t.match(res.json().message, /push/)
  for (const [what, body] of [
    ['maxEvents over 1000', { maxEvents: 1001 }],
    ['1001 acks', { ack: Array.from({ length: 1001 }, (_, i) => `j${i}`) }],
    ['a jti of 129 characters', { ack: ['j'.repeat(129)] }],
    ['an unknown member', { wait: 5 }],
    ['setErrs without err', { setErrs: { j: { description: 'x' } } }]
  ] as const) {
    t.equal((await ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, body)).statusCode, 400, what)
  }
})

t.test('status: paused holds events until enabled; disabled drops them', async (t) => {
  const { app, receiver, streamId, drain } = await setup(t)
  const logout = async (): Promise<void> => {
    const session = await newSession(app)
    await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  }
  const status = async (value: string) => ssfRequest(app, receiver, 'POST', '/ssf/status', { stream_id: streamId, status: value })
  await status('paused')
  await logout()
  t.same(await drain(), [], 'paused: nothing')
  await status('enabled')
  t.equal((await drain()).length, 1, 'enabled again: the held event')
  await status('disabled')
  await logout()
  t.same(await drain(), [])
  await status('enabled')
  t.same(await drain(), [], 'disabled: the event was not held')
  await logout()
  t.equal((await drain()).length, 1, 'events after the enable flow')
})

t.test('the event is written before the action: when the outbox cannot be written, the logout fails and the session lives', async (t) => {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  let broken = false
  const store: Store = Object.create(inner) as Store
  Object.defineProperty(store, 'ssfEvents', {
    value: {
      ...Object.fromEntries(['since', 'lastSeq', 'prune'].map((m) => [m, (...args: unknown[]) => (inner.ssfEvents as any)[m](...args)])),
      append: async (...args: Parameters<Store['ssfEvents']['append']>) => {
        if (broken) throw new StoreUnavailableError(new Error('disk full (simulated)'))
        return inner.ssfEvents.append(...args)
      }
    }
  })
  const { app } = await ssfApp(t, { store })
  const session = await newSession(app)
  broken = true
  const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'store_unavailable')
  t.equal((await validate(app, session.access_token)).valid, true, 'the session was not ended')
  broken = false
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })).statusCode, 204)
  const events = await inner.ssfEvents.since(0, 10)
  t.equal(events.length, 1, 'the retry writes the event, and ends the session')
  t.equal((await validate(app, session.access_token)).valid, false)
})

t.test('a SET is no access token: validate refuses it', async (t) => {
  const { app, poll } = await setup(t)
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  const set = Object.values((await poll()).raw)[0]!
  const verdict = await validate(app, set)
  t.equal(verdict.valid, false)
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${set}` } })).statusCode, 401)
})

t.test('metrics: events queued by type, delivered per stream, delivery lag', async (t) => {
  const { app, streamId, drain } = await setup(t)
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  await drain()
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(text, /token_orchestrator_ssf_events_queued_total\{type="session-revoked"\} 1/)
  t.match(text, new RegExp(`token_orchestrator_ssf_events_delivered_total\\{stream="${streamId}",method="poll"\\} 1`))
  t.match(text, new RegExp(`token_orchestrator_ssf_delivery_lag_seconds\\{stream="${streamId}"\\} 0`))
  t.match(text, /# TYPE token_orchestrator_ssf_delivery_failures_total counter/)
})

t.test('poll setErrs: only the stream\'s own SETs are reported, with RFC 8935 codes; one log line per poll', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const { app, receiver, streamId, poll } = await ssfAppWithLog(t, lines)
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  const [set] = (await poll()).sets
  // A receiver naming jtis that are not its SETs, with codes of its own, gets no series and no lines for them.
  const setErrs: Record<string, { err: string }> = { [set!.jti]: { err: 'made_up_code' } }
  for (let i = 0; i < 200; i++) setErrs[`j${i}`] = { err: `c_${i}` }
  const res = await ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, { setErrs, returnImmediately: true })
  t.equal(res.statusCode, 200)
  t.same(res.json().sets, {}, 'the reported SET counts as processed')
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const series = metrics.split('\n').filter((l) => l.startsWith('token_orchestrator_ssf_delivery_failures_total{'))
  t.same(series, [`token_orchestrator_ssf_delivery_failures_total{stream="${streamId}",reason="set_error:other"} 1`],
    'one series: the one real SET, its unknown code as other')
  const reported = lines.filter((l) => l.msg === 'a poll receiver reported errors for SETs')
  t.equal(reported.length, 1, 'one line')
  t.match(reported[0], { streamId, count: 1, errors: ['other'], jtis: [set!.jti] })

  const second = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: second.refresh_token } })
  const [next] = (await poll()).sets
  await ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, { setErrs: { [next!.jti]: { err: 'invalid_key' } }, maxEvents: 0 })
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body,
    new RegExp(`token_orchestrator_ssf_delivery_failures_total\\{stream="${streamId}",reason="set_error:invalid_key"\\} 1`), 'an RFC 8935 code is kept')
})

t.test('poll: two polls may wait on a stream; a third answers at once', async (t) => {
  const { app, receiver, streamId } = await setup(t)
  const wait = async () => ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, {})
  const waiting = [wait(), wait()]
  let settled = 0
  for (const w of waiting) w.then(() => { settled += 1 }, () => {})
  await new Promise((resolve) => setTimeout(resolve, 300))
  const started = Date.now()
  const third = await wait()
  t.equal(third.statusCode, 200)
  t.same(third.json().sets, {}, 'nothing yet, answered without waiting')
  t.ok(Date.now() - started < 5000, `at once (${Date.now() - started} ms)`)
  t.equal(settled, 0, 'the first two are still waiting')
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  for (const answer of await Promise.all(waiting)) {
    t.equal(answer.statusCode, 200)
    t.equal(Object.keys(answer.json().sets).length, 1, 'each waiting poll got the logout\'s SET')
  }
  // Their places are free again.
  const again = [wait(), wait()]
  await new Promise((resolve) => setTimeout(resolve, 300))
  const other = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: other.refresh_token } })
  t.same((await Promise.all(again)).map((a) => a.statusCode), [200, 200])
})

t.test('poll: a poll that waited answers 401 when its client was disabled meanwhile, and sends nothing', async (t) => {
  const { app, receiver, streamId } = await setup(t)
  const waiting = ssfRequest(app, receiver, 'POST', `/ssf/poll/${streamId}`, {})
  await new Promise((resolve) => setTimeout(resolve, 300))
  await disableClient(app, receiver.clientId)
  const session = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: session.refresh_token } })
  const res = await waiting
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_token')
  t.notMatch(res.body, /sets/, 'no SET in the answer')
})

async function ssfAppWithLog (t: Test, lines: Array<Record<string, unknown>>) {
  const { Writable } = await import('node:stream')
  const logStream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  const { app } = await ssfApp(t, { logStream })
  const receiver = await newReceiver(app)
  const streamId = await pollStream(app, receiver)
  return { app, receiver, streamId, ...poller(app, receiver, streamId) }
}
