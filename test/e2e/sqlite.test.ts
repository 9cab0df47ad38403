// Real server processes on one SQLite file: a kill -9 in the middle of a burst
// of writes loses nothing that was acknowledged, and two processes sharing the
// file act as one service (unique usernames, one revocation log, exactly-once
// refresh rotation).
import { join } from 'node:path'
import t from 'tap'
import { PASSWORD } from '../helper.js'
import { ONE_SERVICE, startServer, type RunningServer } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'

// Each case starts two or three server processes; on a busy machine a start takes seconds.
t.setTimeout(300_000)

interface Answer { status: number, body: any }

async function post (url: string, body: unknown): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text) }
}

const valid = async (server: RunningServer, token: string): Promise<boolean> =>
  (await post(`${server.url}/token/validate`, { token })).body.valid as boolean

interface Pair { access_token: string, refresh_token: string }

t.test('kill -9 during a burst of writes, then a restart: every acknowledged write is there', async (t) => {
  const file = join(scratchDir(t), 'burst.sqlite')
  const env = { SQLITE_PATH: file, ...ONE_SERVICE }
  const first = await startServer(t, env)

  // What the first process acknowledged (a 2xx answer received), by kind.
  const users: string[] = []
  const loggedOut: Pair[] = []
  const revokedAccess: string[] = []
  const spent: string[] = []
  // Sessions nothing touches after their last acknowledged write: they must go on refreshing.
  const live: Pair[] = []
  // Shared with the workers, which stop when told.
  const burst = { acknowledged: 0, stop: false }
  const ack = (): void => { burst.acknowledged += 1 }

  const worker = async (id: number): Promise<void> => {
    for (let round = 0; !burst.stop && round < 50; round++) {
      const username = `burst${id}x${round}`
      if ((await post(`${first.url}/auth/register`, { username, password: PASSWORD })).status !== 201) return
      users.push(username); ack()
      const login = await post(`${first.url}/auth/login`, { username, password: PASSWORD })
      if (login.status !== 200) return
      ack()
      const refreshed = await post(`${first.url}/auth/refresh`, { refresh_token: login.body.refresh_token })
      if (refreshed.status !== 200) return
      spent.push(login.body.refresh_token as string); ack()
      const pair = refreshed.body as Pair
      if (round % 2 === 0) {
        if ((await post(`${first.url}/auth/logout`, { refresh_token: pair.refresh_token })).status !== 204) return
        loggedOut.push(pair); ack()
      } else {
        const revoked = await post(`${first.url}/token/revoke`, { token: pair.access_token })
        if (revoked.status !== 200 || revoked.body.revoked !== true) return
        revokedAccess.push(pair.access_token); live.push(pair); ack()
      }
    }
  }
  // Errors are expected once the process is gone: what was in flight was never acknowledged.
  const workers = Array.from({ length: 4 }, async (_, i) => worker(i).catch(() => {}))
  const deadline = Date.now() + 60_000
  while (burst.acknowledged < 48 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  first.child.kill('SIGKILL')
  const { signal } = await first.ended
  burst.stop = true
  await Promise.all(workers)
  t.equal(signal, 'SIGKILL', 'killed, no graceful close')
  t.ok(burst.acknowledged >= 48, `${burst.acknowledged} writes acknowledged before the kill`)
  t.ok(loggedOut.length > 0 && revokedAccess.length > 0, 'logouts and revocations among them')

  const second = await startServer(t, env)
  for (const username of users) {
    t.equal((await post(`${second.url}/auth/login`, { username, password: PASSWORD })).status, 200, `${username} logs in`)
  }
  for (const pair of loggedOut) {
    t.equal(await valid(second, pair.access_token), false, 'a logged-out session\'s access token is refused')
    t.equal((await post(`${second.url}/auth/refresh`, { refresh_token: pair.refresh_token })).status, 401, 'and its refresh token')
  }
  for (const access of revokedAccess) t.equal(await valid(second, access), false, 'a revoked access token stays revoked')
  for (const pair of live) {
    t.equal((await post(`${second.url}/auth/refresh`, { refresh_token: pair.refresh_token })).status, 200, 'a live session keeps refreshing')
  }
  for (const token of spent) {
    t.equal((await post(`${second.url}/auth/refresh`, { refresh_token: token })).status, 401, 'a rotated refresh token stays spent')
  }
})

t.test('two processes on one file act as one service', async (t) => {
  const file = join(scratchDir(t), 'shared.sqlite')
  // The default follower interval: what an operator running two `npm start`s gets.
  const env = { SQLITE_PATH: file, REVOCATION_SYNC_INTERVAL_MS: '500', ...ONE_SERVICE }
  const a = await startServer(t, env)
  const b = await startServer(t, env)

  t.equal((await post(`${a.url}/auth/register`, { username: 'shared.user', password: PASSWORD })).status, 201)
  const login = await post(`${b.url}/auth/login`, { username: 'shared.user', password: PASSWORD })
  t.equal(login.status, 200, 'a user registered on one logs in on the other')

  const racing = await Promise.all([a, b, a, b].map(async (s) => post(`${s.url}/auth/register`, { username: 'only.one', password: PASSWORD })))
  t.same(racing.map((r) => r.status).sort(), [201, 409, 409, 409], 'one username, one registration across both')

  const session = login.body as Pair
  t.equal(await valid(a, session.access_token), true)
  t.equal((await post(`${b.url}/auth/logout`, { refresh_token: session.refresh_token })).status, 204)
  const loggedOutAt = Date.now()
  let refusedAfter = -1
  while (Date.now() - loggedOutAt < 5000) {
    if (!await valid(a, session.access_token)) {
      refusedAfter = Date.now() - loggedOutAt
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(refusedAfter >= 0 && refusedAfter <= 1500, `a logout on one is refused by validate on the other within 1.5 s (${refusedAfter} ms)`)

  const fresh = (await post(`${a.url}/auth/login`, { username: 'shared.user', password: PASSWORD })).body as Pair
  const refreshes = await Promise.all([a, b, a, b, a, b, a, b].map(async (s) => post(`${s.url}/auth/refresh`, { refresh_token: fresh.refresh_token })))
  const statuses = refreshes.map((r) => r.status)
  t.equal(statuses.filter((s) => s === 200).length, 1, `exactly one of 8 concurrent refreshes across both wins (${statuses.join(', ')})`)
  t.ok(statuses.every((s) => s === 200 || s === 401), 'the others are refused as reuse')
})
