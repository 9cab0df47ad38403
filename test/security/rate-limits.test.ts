// RATE_LIMIT_AUTH is one budget per client IP shared by every route that
// verifies a password or a client secret: spending it at one cannot buy fresh
// guesses at another. Other addresses and the validate hot path are untouched.
import t from 'tap'
import { testClock } from '../support/clock.js'
import { build } from '../helper.js'
import { ADMIN_ENV, adminToken, basic, createClient } from '../support/clients.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

t.test('60 wrong logins from one IP, then every credential route answers 429', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '60', LOCKOUT_THRESHOLD: '1000' } })
  const attacker = '192.0.2.7'
  for (let i = 0; i < 60; i++) {
    const res = await app.inject({
      method: 'POST', url: '/auth/login', remoteAddress: attacker, payload: { username: 'victim', password: `guess-${i}-xxxx` }
    })
    if (res.statusCode !== 401) t.fail(`login ${i + 1}: ${res.statusCode}`)
  }
  const token = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    remoteAddress: attacker,
    headers: FORM,
    payload: 'grant_type=password&username=victim&password=another-guess'
  })
  t.equal(token.statusCode, 429, '/oauth/token shares the budget')
  t.equal(token.json().error, 'too_many_requests')
  t.ok(Number(token.headers['retry-after']) > 0, 'Retry-After')

  const others: Array<{ url: string, payload: string | Record<string, string>, headers?: Record<string, string> }> = [
    { url: '/auth/register', payload: { username: 'someone.new', password: 'long enough password' } },
    { url: '/auth/refresh', payload: { refresh_token: 'a.b.c' } },
    { url: '/oauth/introspect', headers: FORM, payload: 'token=x&client_id=c&client_secret=s' },
    { url: '/oauth/revoke', headers: FORM, payload: 'token=x&client_id=c&client_secret=s' }
  ]
  for (const route of others) {
    const res = await app.inject({ method: 'POST', remoteAddress: attacker, ...route })
    t.equal(res.statusCode, 429, `${route.url} shares the budget`)
  }

  const elsewhere = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    remoteAddress: '198.51.100.9',
    headers: FORM,
    payload: 'grant_type=password&username=victim&password=another-guess'
  })
  t.equal(elsewhere.statusCode, 400, 'another address has its own budget (invalid_grant, not 429)')
  const validate = await app.inject({ method: 'POST', url: '/token/validate', remoteAddress: attacker, payload: { token: 'a.b.c' } })
  t.equal(validate.statusCode, 200, 'validate is not rate limited')
})

t.test('the revocation feed draws on the same budget, and a reader it already knows polls on', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, RATE_LIMIT_AUTH: '5', LOCKOUT_THRESHOLD: '1000' } })
  const client = await createClient(app, { name: 'resource server', scopes: ['revocations:read'] })
  const reader = basic(client.client_id, client.client_secret)
  const remoteAddress = '192.0.2.20'
  const feed = async (authorization: string) => app.inject({ method: 'GET', url: '/token/revocations', remoteAddress, headers: { authorization } })
  t.equal((await feed(reader)).statusCode, 200, 'the reader\'s first poll checks its secret (1 of 5)')
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: 'victim', password: `guess-${i}-xxxx` } })
    if (res.statusCode !== 401) t.fail(`login ${i + 1}: ${res.statusCode}`)
  }
  const guess = await feed(basic(client.client_id, 'a-guessed-secret'))
  t.equal(guess.statusCode, 429, 'a secret guessed at the feed once the budget is spent')
  t.equal(guess.json().error, 'too_many_requests')
  t.equal((await feed(reader)).statusCode, 200, 'the known reader is not counted')
})

t.test('a feed reader still on a secret a rotation replaced is counted in the per-IP budget', async (t) => {
  // The old secret passes during its grace, at two argon2 checks a time: never exempt like a known reader's.
  const app = await build(t, { env: { ...ADMIN_ENV, RATE_LIMIT_AUTH: '4', CLIENT_SECRET_GRACE: '300' } })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'reader', scopes: ['revocations:read'] }, admin)
  const feed = async (authorization: string, remoteAddress: string) =>
    (await app.inject({ method: 'GET', url: '/token/revocations', remoteAddress, headers: { authorization } })).statusCode
  const old = basic(client.client_id, client.client_secret)
  t.equal(await feed(old, '192.0.2.60'), 200, 'the reader reads (1 of 4), and is known')
  const rotated = await app.inject({ method: 'POST', url: `/admin/clients/${client.client_id}/secret`, headers: { authorization: `Bearer ${admin}` } })
  t.equal(rotated.statusCode, 200)
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push(await feed(old, '192.0.2.60'))
  t.same(statuses, [200, 200, 200, 429, 429, 429], 'the old secret passes, each pass drawn on the budget (2, 3 and 4 of 4)')
  const current = basic(client.client_id, rotated.json().client_secret)
  const fresh: number[] = []
  for (let i = 0; i < 6; i++) fresh.push(await feed(current, '192.0.2.61'))
  t.same(fresh, Array(6).fill(200), 'the new secret is a known reader again: not counted after its first pass')
})

t.test('a known feed reader\'s credentials that stop passing are metered, even between passes that reset the throttle', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, RATE_LIMIT_AUTH: '6', LOCKOUT_THRESHOLD: '5' } })
  const admin = await adminToken(app)
  const client = await createClient(app, { name: 'reader', scopes: ['revocations:read'] }, admin)
  const feed = async (authorization: string) =>
    (await app.inject({ method: 'GET', url: '/token/revocations', remoteAddress: '192.0.2.70', headers: { authorization } })).statusCode
  const stale = basic(client.client_id, client.client_secret)
  t.equal(await feed(stale), 200, 'read with the first secret (1 of 6), now a known reader')
  const rotated = await app.inject({ method: 'POST', url: `/admin/clients/${client.client_id}/secret`, headers: { authorization: `Bearer ${admin}` } })
  const current = basic(client.client_id, rotated.json().client_secret)
  t.equal(await feed(current), 200, 'read with the new secret (2 of 6)')
  const staleStatuses: number[] = []
  const currentStatuses: number[] = []
  // Four stale reads, then a good one that clears the failure count: the throttle alone never trips.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 4; i++) staleStatuses.push(await feed(stale))
    currentStatuses.push(await feed(current))
  }
  t.same(staleStatuses, [401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429, 429], 'the stale secret spends the budget, then is refused unchecked')
  t.same(currentStatuses, [200, 200, 200], 'the reader with the current secret is not counted')
})

t.test('introspection and revocation are rate limited per IP on their own too', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '3' } })
  for (const url of ['/oauth/introspect', '/oauth/revoke']) {
    const remoteAddress = url === '/oauth/introspect' ? '192.0.2.10' : '192.0.2.11'
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ method: 'POST', url, remoteAddress, headers: FORM, payload: `token=x&client_id=nobody-${i}&client_secret=wrong` })
      statuses.push(res.statusCode)
    }
    t.same(statuses, [401, 401, 401, 429], url)
  }
})

t.test('failed client authentications are throttled per client_id and address', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '120' } })
  const rs = await createClient(app, { name: 'resource server' })
  const introspect = async (secret: string, clientId = rs.client_id) => app.inject({
    method: 'POST', url: '/oauth/introspect', headers: FORM, payload: new URLSearchParams({ token: 'x', client_id: clientId, client_secret: secret }).toString()
  })
  t.equal((await introspect(rs.client_secret)).statusCode, 200, 'the resource server works')
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await introspect(`wrong-${i}`)).statusCode)
  t.same(statuses, [401, 401, 401, 429], 'the fourth failure in a row is throttled')
  const locked = await introspect('wrong-again')
  t.equal(locked.json().error, 'too_many_requests')
  t.equal(locked.headers['retry-after'], '120')
  const token = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: FORM,
    payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: rs.client_id, client_secret: 'wrong' }).toString()
  })
  t.equal(token.statusCode, 429, 'at the token endpoint too')
  t.equal((await introspect(rs.client_secret)).statusCode, 200, 'the secret it proved moments ago still passes')

  const unknown: number[] = []
  for (let i = 0; i < 4; i++) unknown.push((await introspect('s', 'no-such-client')).statusCode)
  t.same(unknown, [401, 401, 401, 429], 'unknown client ids are counted too')
})

t.test('someone guessing a client_id from another address cannot lock the client out, not even before its first call', async (t) => {
  // Nothing is remembered here: the client has to pass a full secret check while the guessing goes on.
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '120', CLIENT_SECRET_CACHE_SECONDS: '0' } })
  const rs = await createClient(app, { name: 'resource server' })
  const introspect = async (secret: string, remoteAddress: string) => app.inject({
    method: 'POST', url: '/oauth/introspect', remoteAddress, headers: FORM, payload: new URLSearchParams({ token: 'x', client_id: rs.client_id, client_secret: secret }).toString()
  })
  const guesses: number[] = []
  for (let i = 0; i < 4; i++) guesses.push((await introspect(`guess-${i}`, '203.0.113.5')).statusCode)
  t.same(guesses, [401, 401, 401, 429], 'the guesser is throttled at its address')
  t.equal((await introspect(rs.client_secret, '198.51.100.7')).statusCode, 200, 'the client, elsewhere, authenticates')
  t.equal((await introspect('guess-4', '198.51.100.7')).statusCode, 401, 'a wrong secret from there is checked, and fails')
  const still = await introspect(rs.client_secret, '203.0.113.5')
  t.equal(still.statusCode, 429, 'the throttled address is refused even with the right secret')
  t.equal(still.json().error, 'too_many_requests')
})

t.test('someone guessing a client_id behind the client\'s own address cannot lock out the client that keeps using its secret', async (t) => {
  // The memory of verified secrets lasts 2 s here; the guessing goes on far longer.
  // The app's clock moves only when told, so a slow machine cannot age the memory.
  const clock = testClock()
  const app = await build(t, { now: clock.now, env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '120', CLIENT_SECRET_CACHE_SECONDS: '2' } })
  const rs = await createClient(app, { name: 'resource server' })
  // One address for both, as when they reach the service through one proxy or NAT.
  const introspect = async (secret: string) => app.inject({
    method: 'POST', url: '/oauth/introspect', remoteAddress: '192.0.2.80', headers: FORM, payload: new URLSearchParams({ token: 'x', client_id: rs.client_id, client_secret: secret }).toString()
  })
  t.equal((await introspect(rs.client_secret)).statusCode, 200, 'the resource server authenticates')
  for (let i = 0; i < 3; i++) await introspect(`guess-${i}`)
  t.equal((await introspect('guess-again')).statusCode, 429, 'the client_id is throttled at that address')
  const statuses: number[] = []
  // Polls 1 s apart, for five times as long as the memory lasts.
  for (let i = 0; i < 10; i++) {
    statuses.push((await introspect(rs.client_secret)).statusCode)
    clock.advance(1)
  }
  t.same(statuses, Array(10).fill(200), 'its polls pass all along, well past the 2 s the memory lasts')
  t.equal((await introspect('guess-more')).statusCode, 429, 'the guesser is still refused')
  clock.advance(2)
  t.equal((await introspect(rs.client_secret)).statusCode, 429, 'a pause longer than the memory is refused while the throttle lasts')
})

t.test('while throttled, a secret not verified recently is refused without argon2', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '2', CLIENT_SECRET_CACHE_SECONDS: '0' } })
  const rs = await createClient(app, { name: 'resource server' })
  const introspect = async (secret: string) => app.inject({
    method: 'POST', url: '/oauth/introspect', headers: FORM, payload: new URLSearchParams({ token: 'x', client_id: rs.client_id, client_secret: secret }).toString()
  })
  await introspect('wrong-1')
  await introspect('wrong-2')
  t.equal((await introspect(rs.client_secret)).statusCode, 429, 'locked, and nothing remembered')
})
