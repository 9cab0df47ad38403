// The push worker without HTTP: an injected sender in place of the network,
// on an in-memory store. In order and one at a time per stream; transient
// failures retried with backoff; a SET refused as malformed passed over; a
// paused stream or a disabled owner gets nothing; two workers on one store
// (two instances) send each event to a stream once.
import t from 'tap'
import { Outbox } from '../../../src/ssf/outbox.js'
import { backoffMs, PushWorker, type PushWorkerOptions } from '../../../src/ssf/push.js'
import type { PushResult, PushSender } from '../../../src/ssf/push-client.js'
import type { SecurityEvent } from '../../../src/ssf/events.js'
import type { SqliteStore } from '../../../src/store/sqlite-store.js'
import { fileStore, memoryStore } from '../../support/stores.js'
import { eventually } from '../../support/eventually.js'

const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked'
const policy = { production: false, allowedHosts: new Set<string>() }

function outboxOn (store: SqliteStore): Outbox {
  return new Outbox({ events: store.ssfEvents, users: store.users, tokenIssuer: 'iss', emailSubjects: false, intervalMs: 50 })
}

async function pushStream (store: SqliteStore, id = 'stream-1', clientId = 'client-1'): Promise<void> {
  await store.clients.create({
    clientId, name: 'r', secretHash: 'h', grants: ['client_credentials'], audiences: [], scopes: [], accessTokenTtl: null, refreshTokenTtl: null
  }).catch(() => {})
  await store.ssfStreams.create({
    streamId: id,
    clientId,
    audience: clientId,
    description: null,
    eventsRequested: [SESSION_REVOKED],
    eventsDelivered: [SESSION_REVOKED],
    method: 'push',
    endpointUrl: 'http://127.0.0.1:9/events',
    authorizationHeader: null
  }, 10, new Date())
}

const logout = (n: number): SecurityEvent => ({ type: 'session-revoked', userId: `u${n}`, sid: `s${n}`, reason: 'logout' })

/** What a sender saw: the sid of every SET, in order, and the most POSTs in flight at once. */
function recorder (answer: (sid: string, attempt: number) => PushResult | Promise<PushResult>, delayMs = 0) {
  const sent: string[] = []
  const attempts = new Map<string, number>()
  let inFlight = 0
  let maxInFlight = 0
  const send: PushSender = async (_url, set) => {
    inFlight += 1
    maxInFlight = Math.max(maxInFlight, inFlight)
    try {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      const sid = (JSON.parse(set) as { sub_id: { session: { id: string } } }).sub_id.session.id
      const n = (attempts.get(sid) ?? 0) + 1
      attempts.set(sid, n)
      const result = await answer(sid, n)
      if (result.ok) sent.push(sid)
      return result
    } finally {
      inFlight -= 1
    }
  }
  return { send, sent, attempts, maxInFlight: () => maxInFlight }
}

function worker (store: SqliteStore, outbox: Outbox, send: PushSender, extra: Partial<PushWorkerOptions> = {}): PushWorker {
  return new PushWorker({
    streams: store.ssfStreams,
    events: store.ssfEvents,
    outbox,
    authorization: () => null,
    ownerActive: async (clientId) => (await store.clients.find(clientId))?.disabled === false,
    sign: (claims) => JSON.stringify(claims),
    issuer: 'https://issuer.example',
    send,
    policy,
    timeoutMs: 1000,
    leaseMs: 2000,
    retryMinMs: 10,
    retryMaxMs: 40,
    scanIntervalMs: 50,
    ...extra
  })
}

t.test('backoff doubles from the minimum up to the cap, with jitter in [half, all]', async (t) => {
  t.equal(backoffMs(1, 100, 10_000, () => 1), 100)
  t.equal(backoffMs(2, 100, 10_000, () => 1), 200)
  t.equal(backoffMs(5, 100, 10_000, () => 1), 1600)
  t.equal(backoffMs(50, 100, 10_000, () => 1), 10_000, 'capped')
  t.equal(backoffMs(3, 100, 10_000, () => 0), 200, 'at least half')
  for (let i = 0; i < 50; i++) {
    const value = backoffMs(4, 100, 10_000, Math.random)
    t.ok(value >= 400 && value <= 800, `${value} within [400, 800]`)
  }
})

t.test('events go out in order, one at a time, each once; the cursor follows', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  await pushStream(store)
  const outbox = outboxOn(store)
  const r = recorder(() => ({ ok: true }), 5)
  const push = worker(store, outbox, r.send)
  push.start()
  t.teardown(() => push.stop())
  for (let i = 0; i < 10; i++) await outbox.record([logout(i)])
  await eventually(async () => r.sent.length === 10)
  t.same(r.sent, Array.from({ length: 10 }, (_, i) => `s${i}`), 'in the order they were written')
  t.equal(r.maxInFlight(), 1, 'one POST at a time')
  await eventually(async () => (await store.ssfStreams.find('stream-1'))?.cursor === outbox.lastSeq)
  await eventually(async () => (await store.ssfStreams.find('stream-1'))?.leaseOwner === null)
  t.pass('caught up: the cursor is at the last event and the lease is given up')
})

t.test('a failing receiver: retried with backoff, later events wait, nothing is lost', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  await pushStream(store)
  const outbox = outboxOn(store)
  const failures: string[] = []
  const r = recorder((sid, attempt) => sid === 's0' && attempt <= 3 ? { ok: false, permanent: false, reason: 'http_5xx' } : { ok: true })
  const push = worker(store, outbox, r.send, {
    observer: { queued: () => {}, delivered: () => {}, failed: (_s, reason) => failures.push(reason), lag: () => {}, forget: () => {} }
  })
  push.start()
  t.teardown(() => push.stop())
  await outbox.record([logout(0), logout(1), logout(2)])
  await eventually(async () => r.sent.length === 3)
  t.same(r.sent, ['s0', 's1', 's2'])
  t.equal(r.attempts.get('s0'), 4, 'three failures, then accepted')
  t.equal(r.attempts.get('s1'), 1, 's1 was not sent before s0 was accepted')
  t.same(failures, ['http_5xx', 'http_5xx', 'http_5xx'])
})

t.test('a SET the receiver refuses as malformed is passed over, counted as failed', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  await pushStream(store)
  const outbox = outboxOn(store)
  const r = recorder((sid) => sid === 's0' ? { ok: false, permanent: true, reason: 'invalid_request' } : { ok: true })
  const warnings: string[] = []
  const push = worker(store, outbox, r.send, { log: { warn: (_d, m) => warnings.push(m), error: () => {} } })
  push.start()
  t.teardown(() => push.stop())
  await outbox.record([logout(0), logout(1)])
  await eventually(async () => r.sent.length === 1)
  t.same(r.sent, ['s1'])
  t.equal(r.attempts.get('s0'), 1, 'not sent again')
  t.match(warnings, [/refused a SET as malformed/])
})

t.test('a paused stream, a disabled owner and events of other types get nothing', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  await pushStream(store, 'paused', 'c-paused')
  await pushStream(store, 'orphan', 'c-disabled')
  const paused = await store.ssfStreams.find('paused')
  await store.ssfStreams.update('paused', paused!.version, { status: 'paused' }, new Date())
  await store.clients.setDisabled('c-disabled', true)
  const outbox = outboxOn(store)
  const r = recorder(() => ({ ok: true }))
  const push = worker(store, outbox, r.send)
  push.start()
  t.teardown(() => push.stop())
  await outbox.record([logout(0), { type: 'account-disabled', userId: 'u', reason: 'user_disabled' }])
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(r.sent, [], 'nothing sent')
  const held = await store.ssfStreams.find('paused')
  await store.ssfStreams.update('paused', held!.version, { status: 'enabled' }, new Date())
  await eventually(async () => r.sent.length === 1)
  t.same(r.sent, ['s0'], 'enabled again: the held event (and not the account-disabled it did not ask for)')
})

/**
 * The store as each worker sees it, with takeLease held until both workers
 * are in it (or 100 ms passed): the two try to take a free lease together.
 */
function racingLeases (store: SqliteStore): SqliteStore {
  let waiting: Array<() => void> = []
  const streams = new Proxy(store.ssfStreams, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop !== 'takeLease' || typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        await new Promise<void>((resolve) => {
          waiting.push(resolve)
          if (waiting.length >= 2) {
            for (const release of waiting) release()
            waiting = []
          } else {
            setTimeout(resolve, 100)
          }
        })
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  })
  const wrapped = Object.create(store) as SqliteStore
  Object.defineProperty(wrapped, 'ssfStreams', { value: streams })
  return wrapped
}

t.test('two workers on one store (two instances): each event reaches the stream once', async (t) => {
  const store = racingLeases(fileStore(t))
  await pushStream(store, 's', 'c')
  const outboxA = outboxOn(store)
  const outboxB = outboxOn(store)
  outboxA.start()
  outboxB.start()
  t.teardown(async () => { await outboxA.stop(); await outboxB.stop() })
  const r = recorder(() => ({ ok: true }), 3)
  const a = worker(store, outboxA, r.send)
  const b = worker(store, outboxB, r.send)
  a.start()
  b.start()
  t.teardown(async () => { await a.stop(); await b.stop() })
  for (let i = 0; i < 20; i++) await (i % 2 === 0 ? outboxA : outboxB).record([logout(i)])
  await eventually(async () => r.sent.length >= 20)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(r.sent.length, 20, '20 events, 20 POSTs and no more')
  for (let i = 0; i < 20; i++) t.equal(r.attempts.get(`s${i}`), 1, `s${i}: once`)
  t.same(r.sent, Array.from({ length: 20 }, (_, i) => `s${i}`), 'in order')
  t.equal(r.maxInFlight(), 1, 'one POST at a time for the stream, across both')
})

t.test('a worker that stops gives its leases up; another goes on from the stored cursor', async (t) => {
  const store = fileStore(t)
  await pushStream(store, 's', 'c')
  const outbox = outboxOn(store)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const first = recorder(async (sid) => {
    if (sid === 's1') await gate
    return sid === 's1' ? { ok: false, permanent: false, reason: 'timeout' } : { ok: true }
  })
  const a = worker(store, outbox, first.send)
  a.start()
  await outbox.record([logout(0), logout(1), logout(2)])
  await eventually(async () => first.attempts.has('s1'))
  const stopping = a.stop()
  release()
  await stopping
  t.same(first.sent, ['s0'])
  t.equal((await store.ssfStreams.find('s'))?.leaseOwner, null, 'the lease is free at once')
  const second = recorder(() => ({ ok: true }))
  const b = worker(store, outbox, second.send)
  b.start()
  t.teardown(() => b.stop())
  await eventually(async () => second.sent.length === 2)
  t.same(second.sent, ['s1', 's2'], 'from the first event not accepted, in order')
})
