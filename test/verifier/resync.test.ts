// A verifier whose cursor falls below what the service's store still holds
// (entries it never saw were swept while it was cut off) resynchronises from a
// snapshot instead of skipping them. The service runs in this process, on a
// loopback port, so the test can sweep its store.
import t from 'tap'
import { createVerifier } from '@token-orchestrator/verifier'
import { build, newSession } from '../helper.js'
import { memoryStore } from '../support/stores.js'
import { ADMIN_ENV, createClient } from '../support/clients.js'
import { freePort } from '../support/server-process.js'
import { within } from './support.js'

t.test('a cursor below the swept part of the log gets a snapshot', async (t) => {
  const store = memoryStore()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const app = await build(t, { store, env: { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256', PUBLIC_URL: url } })
  await app.listen({ port, host: '127.0.0.1' })
  const client = await createClient(app, { name: 'resource server', scopes: ['revocations:read'] })

  // A fetch that can be cut off (requests in flight fail too), and that records what the feed answered.
  let cutOff = false
  const inFlight = new Set<AbortController>()
  const pages: Array<{ resync: boolean, next_cursor: number }> = []
  const fetchThrough: typeof fetch = async (input, init) => {
    if (cutOff) throw new TypeError('fetch failed (cut off by the test)')
    const controller = new AbortController()
    inFlight.add(controller)
    try {
      const signal = init?.signal != null ? AbortSignal.any([init.signal, controller.signal]) : controller.signal
      const res = await fetch(input, { ...init, signal })
      if (String(input).includes('/token/revocations')) pages.push(await res.clone().json())
      return res
    } finally {
      inFlight.delete(controller)
    }
  }
  const cut = (): void => {
    cutOff = true
    for (const controller of inFlight) controller.abort()
  }
  const verifier = await createVerifier({
    url, clientId: client.client_id, clientSecret: client.client_secret, maxStaleness: 60, fetch: fetchThrough
  })
  t.teardown(() => verifier.close())

  const early = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: early.refresh_token } })
  await within(1500, () => !verifier.verify(early.access_token).valid)
  const cursor = verifier.status().cursor

  cut()
  // While it is cut off: an entry that expires and is swept, and a logout it must not miss.
  const shortLived = await store.revocations.add({ kind: 'jti', value: 'short-lived', expiresAt: new Date(Date.now() + 200) })
  const late = await newSession(app)
  t.equal(verifier.verify(late.access_token).valid, true)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: late.refresh_token } })
  await new Promise((resolve) => setTimeout(resolve, 300))
  await store.sweep(new Date())
  const bounds = await store.revocations.bounds()
  t.ok(bounds.prunedThrough >= shortLived.seq && cursor < bounds.prunedThrough, 'the verifier\'s cursor is below the watermark')

  pages.length = 0
  cutOff = false
  await within(8000, () => !verifier.verify(late.access_token).valid)
  t.same(verifier.verify(late.access_token), { valid: false, error: 'revoked' }, 'the logout made while cut off is seen')
  t.ok(pages.some((p) => p.resync), 'through a resync answer')
  t.same(verifier.verify(early.access_token), { valid: false, error: 'revoked' }, 'what it knew before is in the snapshot too')
  t.ok(verifier.status().cursor >= bounds.prunedThrough)
})
