// AuthService without HTTP: registration through createUser, login, refresh
// rotation and reuse, lockout and session expiry, moved by an injected clock.
import t from 'tap'
import { PASSWORD } from '../../helper.js'
import { codeOf, domain } from '../../support/domain.js'

t.test('register applies the account rules and refuses a taken name', async (t) => {
  const { auth, store } = domain(t)
  const user = await auth.register('Alice@example.com', PASSWORD)
  t.equal(user.username, 'alice@example.com', 'stored lower-cased')
  t.ok(await store.users.findById(user.id))
  t.equal(await codeOf(auth.register('alice@example.com', PASSWORD)), 'username_taken')
  t.equal(await codeOf(auth.register('ab', PASSWORD)), 'invalid_request', 'too short a username')
  t.equal(await codeOf(auth.register('bob', 'short')), 'invalid_request', 'too short a password')
  t.equal(await store.users.findByUsername('bob'), null, 'nothing written for a refused user')
})

t.test('refresh rotates; the spent token is reuse and ends the session', async (t) => {
  const { auth, store, tokens } = domain(t)
  await auth.register('carol', PASSWORD)
  const first = await auth.login('carol', PASSWORD, undefined, '127.0.0.1')
  if (!('refresh_token' in first)) throw new Error('no refresh token')
  const second = await auth.refresh(first.refresh_token)
  t.not(second.refresh_token, first.refresh_token)
  t.equal(await codeOf(auth.refresh(first.refresh_token)), 'invalid_grant')
  const verified = tokens.verifyRefresh(second.refresh_token)
  if (!verified.ok) throw new Error('refresh token does not verify')
  t.equal((await store.sessions.find(verified.claims.sid))!.revokedReason, 'refresh_token_reuse')
  t.equal(await codeOf(auth.refresh(second.refresh_token)), 'invalid_grant', 'the whole session ended')
})

t.test('the reuse window: a repeat inside it answers the same pair, after it is reuse', async (t) => {
  const { auth, clock } = domain(t, { reuseInterval: 5 })
  await auth.register('dave', PASSWORD)
  const first = await auth.login('dave', PASSWORD, undefined, '127.0.0.1')
  if (!('refresh_token' in first)) throw new Error('no refresh token')
  const second = await auth.refresh(first.refresh_token)
  clock.advance(3)
  t.same(await auth.refresh(first.refresh_token), { ...second, expires_in: second.expires_in - 3, refresh_expires_in: second.refresh_expires_in - 3 })
  clock.advance(3)
  t.equal(await codeOf(auth.refresh(first.refresh_token)), 'invalid_grant')
})

t.test('lockout ends with the clock', async (t) => {
  const { auth, clock } = domain(t, { lockoutThreshold: 2, lockoutSeconds: 60 })
  await auth.register('erin', PASSWORD)
  t.equal(await codeOf(auth.login('erin', 'wrong password', undefined, '127.0.0.1')), 'invalid_credentials')
  t.equal(await codeOf(auth.login('erin', 'wrong password', undefined, '127.0.0.1')), 'invalid_credentials')
  t.equal(await codeOf(auth.login('erin', PASSWORD, undefined, '127.0.0.1')), 'too_many_requests')
  clock.advance(61)
  t.ok(await auth.login('erin', PASSWORD, undefined, '127.0.0.1'))
})

t.test('a session past its absolute lifetime no longer refreshes', async (t) => {
  const { auth, clock } = domain(t)
  await auth.register('frank', PASSWORD)
  let pair = await auth.login('frank', PASSWORD, undefined, '127.0.0.1')
  for (let i = 0; i < 3; i++) {
    clock.advance(2000)
    if (!('refresh_token' in pair)) throw new Error('no refresh token')
    pair = await auth.refresh(pair.refresh_token)
  }
  clock.advance(1300)
  if (!('refresh_token' in pair)) throw new Error('no refresh token')
  t.equal(await codeOf(auth.refresh(pair.refresh_token)), 'invalid_grant', '7300 s > SESSION_MAX_LIFETIME 7200')
})
