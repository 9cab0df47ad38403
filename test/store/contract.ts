// The one storage contract every Store implementation must pass (see
// src/store/types.ts). Each subtest gets a fresh, initialised store from
// makeStore() and cleans it up afterwards.
//
// Dates are kept in the future (relative to the wall clock) everywhere, and
// "expired" is tested by passing a later `now`: a MongoDB TTL monitor running
// during the test must never delete what a test still looks at.
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { AppError } from '../../src/errors.js'
import { REVOCATION_LATE_MS, type NewSession, type Rotation, type SessionRecord, type Store, type StoreHooks } from '../../src/store/types.js'

/** A fresh, initialised store; `hooks` are the test-only pauses the race tests use. */
export type MakeStore = (options?: { hooks?: StoreHooks }) => Promise<{ store: Store, cleanup: () => Promise<void> }>

/** A pause a hook waits on until the test releases it. */
function gate (): { wait: () => Promise<void>, open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { wait: async () => opened, open }
}

const HOUR = 3_600_000

export async function storeContract (t: Test, name: string, makeStore: MakeStore): Promise<void> {
  // Runs `fn` against a fresh store in its own subtest.
  const withStore = (tt: Test, title: string, fn: (t: Test, store: Store) => Promise<void>, hooks?: StoreHooks): Promise<void> =>
    tt.test(title, async (st) => {
      const { store, cleanup } = await makeStore(hooks === undefined ? undefined : { hooks })
      st.teardown(cleanup)
      await fn(st, store)
    }).then(() => undefined)

  await t.test(`${name} store contract`, async (t) => {
    await withStore(t, 'init is idempotent, ping answers, kind is known', async (t, store) => {
      await store.init()
      await store.init()
      await t.resolves(store.ping())
      t.ok(store.kind === 'sqlite' || store.kind === 'mongodb', `kind ${store.kind}`)
    })

    await t.test('users', async (t) => {
      await withStore(t, 'create returns a fresh record with defaults', async (t, store) => {
        const before = Date.now()
        const user = await store.users.create({ username: 'Alice', passwordHash: 'h1' })
        t.type(user.id, 'string')
        t.ok(user.id.length > 0)
        t.equal(user.username, 'alice', 'username is lower-cased')
        t.equal(user.passwordHash, 'h1')
        t.same(user.roles, [])
        t.equal(user.disabled, false)
        t.equal(user.failedLogins, 0)
        t.equal(user.lockedUntil, null)
        t.ok(user.createdAt instanceof Date)
        t.ok(user.createdAt.getTime() >= before - 1000 && user.createdAt.getTime() <= Date.now() + 1000)
        t.notOk('_id' in user, 'no storage id leaks')

        const admin = await store.users.create({ username: 'bob', passwordHash: 'h2', roles: ['admin', 'user'] })
        t.same(admin.roles, ['admin', 'user'])
        t.not(admin.id, user.id, 'ids are unique')
      })

      await withStore(t, 'setRoles replaces the roles and returns the user', async (t, store) => {
        const user = await store.users.create({ username: 'dora', passwordHash: 'h', roles: ['admin', 'ops'] })
        const other = await store.users.create({ username: 'erin', passwordHash: 'h', roles: ['admin'] })
        const updated = await store.users.setRoles(user.id, ['ops', 'audit'])
        t.same(updated?.roles, ['ops', 'audit'])
        t.equal(updated?.passwordHash, 'h', 'the rest is untouched')
        t.same((await store.users.findById(user.id))?.roles, ['ops', 'audit'])
        t.same((await store.users.findById(other.id))?.roles, ['admin'], 'other users untouched')
        t.same((await store.users.setRoles(user.id, []))?.roles, [], 'empty is allowed')
        t.equal(await store.users.setRoles('nobody', ['x']), null, 'unknown: null')
        const roles = ['$set', 'a.b']
        t.same((await store.users.setRoles(user.id, roles))?.roles, ['$set', 'a.b'], 'stored literally')
        roles.push('mutated')
        t.same((await store.users.findById(user.id))?.roles, ['$set', 'a.b'], 'input is copied')
      })

      await withStore(t, 'find by username (case-insensitive) and by id', async (t, store) => {
        const user = await store.users.create({ username: 'Carol', passwordHash: 'h' })
        for (const name of ['carol', 'CAROL', 'Carol', 'cArOl']) {
          const found = await store.users.findByUsername(name)
          t.equal(found?.id, user.id, `found by ${name}`)
        }
        t.same(await store.users.findByUsername('carol'), user, 'same record as create returned')
        t.same(await store.users.findById(user.id), user)
        t.equal(await store.users.findByUsername('nobody'), null)
        t.equal(await store.users.findById(randomUUID()), null)
      })

      await withStore(t, 'duplicate username (any case) is username_taken', async (t, store) => {
        await store.users.create({ username: 'dave', passwordHash: 'h' })
        for (const name of ['dave', 'DAVE', 'Dave']) {
          const err = await store.users.create({ username: name, passwordHash: 'x' }).then(
            () => undefined,
            (e: unknown) => e
          )
          t.ok(err instanceof AppError, `${name}: rejects with an AppError`)
          t.equal((err as AppError | undefined)?.code, 'username_taken', `${name}: code username_taken`)
        }
        const users = await store.users.findByUsername('dave')
        t.equal(users?.passwordHash, 'h', 'the original user is untouched')
      })

      await withStore(t, 'records are copies in and out', async (t, store) => {
        const input = { username: 'erin', passwordHash: 'h', roles: ['user'] }
        const created = await store.users.create(input)
        input.roles.push('admin')
        created.roles.push('admin')
        created.username = 'mallory'
        created.disabled = true
        created.createdAt.setTime(0)
        const found = await store.users.findById(created.id)
        t.ok(found !== null)
        if (found === null) return
        t.same(found.roles, ['user'], 'roles unchanged by mutating input or output')
        t.equal(found.username, 'erin')
        t.equal(found.disabled, false)
        t.not(found.createdAt.getTime(), 0)

        found.roles.length = 0
        found.passwordHash = 'changed'
        const again = await store.users.findByUsername('erin')
        t.same(again?.roles, ['user'], 'mutating a found record does not change the store')
        t.equal(again?.passwordHash, 'h')
      })

      await withStore(t, 'setPasswordHash and setDisabled', async (t, store) => {
        const user = await store.users.create({ username: 'frank', passwordHash: 'old' })
        const other = await store.users.create({ username: 'grace', passwordHash: 'other' })
        await store.users.setPasswordHash(user.id, 'new')
        t.equal((await store.users.findById(user.id))?.passwordHash, 'new')
        t.equal((await store.users.findByUsername('FRANK'))?.passwordHash, 'new')

        await store.users.setDisabled(user.id, true)
        t.equal((await store.users.findById(user.id))?.disabled, true)
        await store.users.setDisabled(user.id, false)
        t.equal((await store.users.findById(user.id))?.disabled, false)

        const untouched = await store.users.findById(other.id)
        t.equal(untouched?.passwordHash, 'other', 'other users are untouched')
        t.equal(untouched?.disabled, false)

        await t.resolves(store.users.setPasswordHash(randomUUID(), 'x'), 'unknown id: no error')
        await t.resolves(store.users.setDisabled(randomUUID(), true), 'unknown id: no error')
      })

      await withStore(t, 'beginLoginAttempt counts to the threshold, locks, refuses while locked, and restarts the count', async (t, store) => {
        const user = await store.users.create({ username: 'heidi', passwordHash: 'h' })
        const now = new Date(Date.now() + HOUR)
        const policy = { threshold: 3, lockSeconds: 60, now }
        const lockEnd = new Date(now.getTime() + 60_000)

        t.equal(await store.users.beginLoginAttempt(user.id, policy), null, 'attempt 1 admitted')
        t.equal((await store.users.findById(user.id))?.failedLogins, 1, 'and counted')
        t.equal(await store.users.beginLoginAttempt(user.id, policy), null, 'attempt 2 admitted')
        t.equal((await store.users.findById(user.id))?.failedLogins, 2)
        t.equal((await store.users.findById(user.id))?.lockedUntil, null, 'not locked yet')

        t.equal(await store.users.beginLoginAttempt(user.id, policy), null, 'attempt 3 (the threshold) admitted')
        let stored = await store.users.findById(user.id)
        t.equal(stored?.lockedUntil?.getTime(), lockEnd.getTime(), 'and it locks until now + lockSeconds')
        t.equal(stored?.failedLogins, 0, 'count restarts after a lock')

        const refused = await store.users.beginLoginAttempt(user.id, { ...policy, now: new Date(now.getTime() + 59_000) })
        t.equal(refused?.getTime(), lockEnd.getTime(), 'while locked: refused with the lock end')
        stored = await store.users.findById(user.id)
        t.equal(stored?.failedLogins, 0, 'a refused attempt is not counted')
        t.equal(stored?.lockedUntil?.getTime(), lockEnd.getTime(), 'nor does it extend the lock')

        const later = { ...policy, now: new Date(now.getTime() + 60_000) }
        t.equal(await store.users.beginLoginAttempt(user.id, later), null, 'admitted again once the lock has ended')
        stored = await store.users.findById(user.id)
        t.equal(stored?.failedLogins, 1, 'counting restarts from one')
        await store.users.beginLoginAttempt(user.id, later)
        t.equal(await store.users.beginLoginAttempt(user.id, later), null, 'the threshold attempt is admitted')
        t.equal((await store.users.findById(user.id))?.lockedUntil?.getTime(), later.now.getTime() + 60_000, 'and locks again')

        t.equal(await store.users.beginLoginAttempt(randomUUID(), policy), null, 'unknown user: null')
      })

      await withStore(t, 'concurrent attempts: at most the threshold is admitted', async (t, store) => {
        const user = await store.users.create({ username: 'ivan', passwordHash: 'h' })
        const policy = { threshold: 5, lockSeconds: 30, now: new Date(Date.now() + HOUR) }
        const results = await Promise.all(
          Array.from({ length: 30 }, async () => store.users.beginLoginAttempt(user.id, policy)))
        t.equal(results.filter((r) => r === null).length, 5, '30 concurrent attempts at threshold 5: 5 admitted')
        t.ok(results.filter((r) => r !== null).every((r) => r?.getTime() === policy.now.getTime() + 30_000), 'the rest refused with the lock end')
        const stored = await store.users.findById(user.id)
        t.equal(stored?.lockedUntil?.getTime(), policy.now.getTime() + 30_000, 'locked once')
        t.equal(stored?.failedLogins, 0)
      })

      await withStore(t, 'clearLoginFailures resets the count and the lock', async (t, store) => {
        const user = await store.users.create({ username: 'judy', passwordHash: 'h' })
        const policy = { threshold: 2, lockSeconds: 60, now: new Date(Date.now() + HOUR) }
        await store.users.beginLoginAttempt(user.id, policy)
        await store.users.clearLoginFailures(user.id)
        let stored = await store.users.findById(user.id)
        t.equal(stored?.failedLogins, 0)
        t.equal(stored?.lockedUntil, null)
        t.equal(await store.users.beginLoginAttempt(user.id, policy), null, 'count started again from zero')
        t.equal((await store.users.findById(user.id))?.lockedUntil, null, 'not locked after one attempt')

        await store.users.beginLoginAttempt(user.id, policy)
        t.ok(await store.users.beginLoginAttempt(user.id, policy), 'locked: refused')
        await store.users.clearLoginFailures(user.id)
        stored = await store.users.findById(user.id)
        t.equal(stored?.failedLogins, 0)
        t.equal(stored?.lockedUntil, null, 'lock cleared')
        t.equal(await store.users.beginLoginAttempt(user.id, policy), null, 'admitted again')
        await t.resolves(store.users.clearLoginFailures(randomUUID()), 'unknown id: no error')
      })
    })

    await t.test('sessions', async (t) => {
      const base = Date.now()
      const newSession = (userId: string, createdOffset = 0, expiresOffset = 2 * HOUR): NewSession => ({
        sid: randomUUID(),
        userId,
        clientId: 'default',
        currentJti: randomUUID(),
        createdAt: new Date(base + createdOffset),
        expiresAt: new Date(base + expiresOffset),
        absoluteExpiresAt: new Date(base + 24 * HOUR)
      })
      const rotation = (previousJti: string, nextJti = randomUUID()): Rotation => ({
        nextJti,
        expiresAt: new Date(base + 3 * HOUR),
        previous: { jti: previousJti, rotatedAt: new Date(base + 1000), successor: 'ciphertext' }
      })

      await withStore(t, 'create and find', async (t, store) => {
        const input = newSession('u1')
        const created = await store.sessions.create(input)
        t.same(created, { ...input, revokedAt: null, revokedReason: null, previous: null, dpopJkt: null })
        t.notOk('_id' in created, 'no storage id leaks')
        const found = await store.sessions.find(input.sid)
        t.same(found, created)
        t.equal(found?.createdAt.getTime(), input.createdAt.getTime())
        t.equal(found?.expiresAt.getTime(), input.expiresAt.getTime())
        t.equal(found?.absoluteExpiresAt.getTime(), input.absoluteExpiresAt.getTime())
        t.equal(await store.sessions.find(randomUUID()), null)

        input.expiresAt.setTime(0)
        created.currentJti = 'mutated'
        if (found !== null) found.userId = 'mutated'
        const again = await store.sessions.find(input.sid)
        t.equal(again?.expiresAt.getTime(), base + 2 * HOUR, 'mutating the input does not change the store')
        t.not(again?.currentJti, 'mutated', 'mutating the output does not change the store')
        t.equal(again?.userId, 'u1')
      })

      await withStore(t, 'a session bound to a DPoP key keeps its thumbprint through rotation', async (t, store) => {
        const input = { ...newSession('u1'), dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' }
        const created = await store.sessions.create(input)
        t.equal(created.dpopJkt, input.dpopJkt)
        await store.sessions.rotate(input.sid, input.currentJti, rotation(input.currentJti))
        t.equal((await store.sessions.find(input.sid))?.dpopJkt, input.dpopJkt)
        t.equal((await store.sessions.listForUser('u1', new Date(base)))[0]?.dpopJkt, input.dpopJkt)
      })

      await withStore(t, 'rotate is a compare-and-set on currentJti', async (t, store) => {
        const input = newSession('u1')
        await store.sessions.create(input)

        const wrong = rotation(input.currentJti)
        t.equal(await store.sessions.rotate(input.sid, 'not-the-current-jti', wrong), null, 'wrong expected jti: null')
        t.equal((await store.sessions.find(input.sid))?.currentJti, input.currentJti, 'unchanged')
        t.equal(await store.sessions.rotate(randomUUID(), input.currentJti, wrong), null, 'unknown sid: null')

        const r = rotation(input.currentJti)
        const rotated = await store.sessions.rotate(input.sid, input.currentJti, r)
        t.ok(rotated !== null, 'matching jti rotates')
        t.equal(rotated?.currentJti, r.nextJti)
        t.equal(rotated?.expiresAt.getTime(), r.expiresAt.getTime())
        t.same(rotated?.previous, r.previous)
        t.equal(rotated?.absoluteExpiresAt.getTime(), input.absoluteExpiresAt.getTime(), 'absolute expiry never moves')
        t.equal(rotated?.createdAt.getTime(), input.createdAt.getTime())
        t.equal(rotated?.sid, input.sid)
        t.same(await store.sessions.find(input.sid), rotated, 'stored')

        t.equal(await store.sessions.rotate(input.sid, input.currentJti, rotation(input.currentJti)), null,
          'the old jti cannot rotate again')
        const second = rotation(r.nextJti)
        second.previous.successor = null
        const rotated2 = await store.sessions.rotate(input.sid, r.nextJti, second)
        t.equal(rotated2?.currentJti, second.nextJti, 'the new jti rotates')
        t.same(rotated2?.previous, { jti: r.nextJti, rotatedAt: second.previous.rotatedAt, successor: null })
      })

      await withStore(t, '20 concurrent rotations of one jti: exactly one wins', async (t, store) => {
        const input = newSession('u1')
        await store.sessions.create(input)
        const attempts = Array.from({ length: 20 }, () => rotation(input.currentJti))
        const results = await Promise.all(attempts.map(async (r) => store.sessions.rotate(input.sid, input.currentJti, r)))
        const winners = results.filter((r): r is SessionRecord => r !== null)
        t.equal(winners.length, 1, 'exactly one non-null result')
        const winner = winners[0]
        const stored = await store.sessions.find(input.sid)
        t.equal(stored?.currentJti, winner?.currentJti, 'the store holds the winner')
        t.ok(attempts.some((a) => a.nextJti === stored?.currentJti))
      })

      await withStore(t, 'a revoked session cannot rotate', async (t, store) => {
        const input = newSession('u1')
        await store.sessions.create(input)
        await store.sessions.revoke(input.sid, 'logout', new Date(base))
        t.equal(await store.sessions.rotate(input.sid, input.currentJti, rotation(input.currentJti)), null)
        t.equal((await store.sessions.find(input.sid))?.currentJti, input.currentJti, 'unchanged')
      })

      await withStore(t, 'revoke is idempotent and keeps the first reason', async (t, store) => {
        const input = newSession('u1')
        const created = await store.sessions.create(input)
        const first = new Date(base + 1000)
        const before = await store.sessions.revoke(input.sid, 'logout', first)
        t.same(before, created, 'returns the session as it was')
        t.equal(before?.revokedAt, null)

        const stored = await store.sessions.find(input.sid)
        t.equal(stored?.revokedAt?.getTime(), first.getTime())
        t.equal(stored?.revokedReason, 'logout')

        const again = await store.sessions.revoke(input.sid, 'reuse_detected', new Date(base + 5000))
        t.ok(again !== null, 'a second revoke still returns the session')
        t.equal(again?.revokedAt?.getTime(), first.getTime(), 'as it was: revoked at the first time')
        t.equal(again?.revokedReason, 'logout')
        const still = await store.sessions.find(input.sid)
        t.equal(still?.revokedAt?.getTime(), first.getTime(), 'first revokedAt kept')
        t.equal(still?.revokedReason, 'logout', 'first reason kept')

        t.equal(await store.sessions.revoke(randomUUID(), 'logout', first), null, 'unknown sid: null')

        const odd = newSession('u1')
        await store.sessions.create(odd)
        await store.sessions.revoke(odd.sid, '$reason', first)
        t.equal((await store.sessions.find(odd.sid))?.revokedReason, '$reason', 'reason is stored literally')
      })

      await withStore(t, 'revokeAllForUser revokes only that user\'s live sessions', async (t, store) => {
        const a1 = await store.sessions.create(newSession('alice', 0))
        const a2 = await store.sessions.create(newSession('alice', 1000))
        const a3 = await store.sessions.create(newSession('alice', 2000))
        const b1 = await store.sessions.create(newSession('bob', 0))
        const earlier = new Date(base + 500)
        await store.sessions.revoke(a3.sid, 'logout', earlier)

        const now = new Date(base + 10_000)
        const revoked = await store.sessions.revokeAllForUser('alice', 'password_changed', now)
        t.same(revoked.map((s) => s.sid).sort(), [a1.sid, a2.sid].sort(), 'the two live sessions')
        for (const s of revoked) {
          t.equal(s.userId, 'alice')
          t.equal(s.revokedAt?.getTime(), now.getTime(), 'returned as revoked')
          t.equal(s.revokedReason, 'password_changed')
        }
        for (const sid of [a1.sid, a2.sid]) {
          const s = await store.sessions.find(sid)
          t.equal(s?.revokedAt?.getTime(), now.getTime())
          t.equal(s?.revokedReason, 'password_changed')
        }
        const old = await store.sessions.find(a3.sid)
        t.equal(old?.revokedReason, 'logout', 'an already revoked session keeps its reason')
        t.equal(old?.revokedAt?.getTime(), earlier.getTime())
        t.equal((await store.sessions.find(b1.sid))?.revokedAt, null, 'other users are untouched')

        t.same(await store.sessions.revokeAllForUser('alice', 'again', now), [], 'nothing left to revoke')
        t.same(await store.sessions.revokeAllForUser('nobody', 'x', now), [], 'unknown user: empty')
      })

      await withStore(t, 'revokeAllForClient revokes the live sessions of that client only', async (t, store) => {
        const mine = await store.sessions.create({ ...newSession('alice', 0), clientId: 'shop' })
        const mine2 = await store.sessions.create({ ...newSession('bob', 0), clientId: 'shop' })
        const ended = await store.sessions.create({ ...newSession('carol', 0), clientId: 'shop' })
        const other = await store.sessions.create(newSession('alice', 0))
        await store.sessions.revoke(ended.sid, 'logout', new Date(base + 500))
        const now = new Date(base + 10_000)
        t.equal(await store.sessions.revokeAllForClient('shop', 'client_disabled', now), 2)
        for (const sid of [mine.sid, mine2.sid]) {
          const s = await store.sessions.find(sid)
          t.equal(s?.revokedAt?.getTime(), now.getTime())
          t.equal(s?.revokedReason, 'client_disabled')
        }
        t.equal((await store.sessions.find(ended.sid))?.revokedReason, 'logout', 'an ended session keeps its reason')
        t.equal((await store.sessions.find(other.sid))?.revokedAt, null, 'other clients untouched')
        t.equal(await store.sessions.revokeAllForClient('shop', 'again', now), 0, 'nothing left')
        t.equal(await store.sessions.revokeAllForClient('nobody', 'x', now), 0)
      })

      await withStore(t, 'revokeAllForUser with keepSid leaves that one session live', async (t, store) => {
        const keep = await store.sessions.create(newSession('alice', 0))
        const other = await store.sessions.create(newSession('alice', 1000))
        const bob = await store.sessions.create(newSession('bob', 0))
        const now = new Date(base + 10_000)
        const revoked = await store.sessions.revokeAllForUser('alice', 'password_changed', now, keep.sid)
        t.same(revoked.map((s) => s.sid), [other.sid], 'only the other session')
        t.equal((await store.sessions.find(keep.sid))?.revokedAt, null, 'the kept session stays live')
        t.equal((await store.sessions.find(other.sid))?.revokedReason, 'password_changed')
        t.equal((await store.sessions.find(bob.sid))?.revokedAt, null, 'other users untouched')
        const all = await store.sessions.revokeAllForUser('alice', 'logout_all', now, bob.sid)
        t.same(all.map((s) => s.sid), [keep.sid], 'a keepSid of another user protects nothing of this one')
      })

      await withStore(t, 'listForUser: live sessions only, newest first', async (t, store) => {
        const now = new Date(base + 90 * 60_000)
        // Created out of order on purpose.
        const mid = await store.sessions.create(newSession('alice', 2000))
        const oldest = await store.sessions.create(newSession('alice', 1000))
        const newest = await store.sessions.create(newSession('alice', 3000))
        const revoked = await store.sessions.create(newSession('alice', 4000))
        await store.sessions.revoke(revoked.sid, 'logout', new Date(base))
        await store.sessions.create(newSession('alice', 5000, HOUR)) // idle-expired at `now`
        await store.sessions.create(newSession('alice', 6000, 90 * 60_000)) // expires exactly at `now`
        await store.sessions.create(newSession('bob', 7000))

        const live = await store.sessions.listForUser('alice', now)
        t.same(live.map((s) => s.sid), [newest.sid, mid.sid, oldest.sid], 'newest first; revoked, expired and other users left out')
        t.same(live[0], newest)
        t.same(await store.sessions.listForUser('nobody', now), [])

        const rotated = await store.sessions.rotate(oldest.sid, oldest.currentJti, rotation(oldest.currentJti))
        t.same((await store.sessions.listForUser('alice', now)).map((s) => s.sid), [newest.sid, mid.sid, oldest.sid],
          'rotation does not change the order (by createdAt)')
        t.same((await store.sessions.listForUser('alice', now))[2], rotated)
      })
    })

    await t.test('revocations', async (t) => {
      const base = Date.now()
      const entry = (value: string, expiresOffset = 2 * HOUR) =>
        ({ kind: 'jti' as const, value, expiresAt: new Date(base + expiresOffset) })

      await withStore(t, 'add returns the entry with a strictly increasing seq', async (t, store) => {
        const before = Date.now()
        const first = await store.revocations.add(entry('j1'))
        t.type(first.seq, 'number')
        t.ok(Number.isInteger(first.seq) && first.seq > 0, 'seq is a positive integer')
        t.equal(first.kind, 'jti')
        t.equal(first.value, 'j1')
        t.equal(first.expiresAt.getTime(), base + 2 * HOUR)
        t.ok(first.createdAt instanceof Date && first.createdAt.getTime() >= before - 1000)
        t.notOk('_id' in first, 'no storage id leaks')

        const sid = await store.revocations.add({ kind: 'sid', value: 's1', expiresAt: new Date(base + HOUR) })
        t.equal(sid.kind, 'sid')
        t.ok(sid.seq > first.seq)

        let last = sid.seq
        for (let i = 0; i < 5; i++) {
          const next = await store.revocations.add(entry(`seq-${i}`))
          t.ok(next.seq > last, `seq ${next.seq} > ${last}`)
          last = next.seq
        }

        const concurrent = await Promise.all(Array.from({ length: 10 }, async (_, i) => store.revocations.add(entry(`c${i}`))))
        const seqs = concurrent.map((r) => r.seq)
        t.equal(new Set(seqs).size, 10, 'concurrent adds get distinct seqs')
        t.ok(seqs.every((s) => s > last), 'all after the earlier ones')
      })

      await withStore(t, 'since respects afterSeq and limit, ascending', async (t, store) => {
        const now = new Date(base)
        const added = []
        for (let i = 0; i < 6; i++) added.push(await store.revocations.add(entry(`j${i}`)))
        const seqs = added.map((r) => r.seq)

        const all = await store.revocations.since(0, now, 100)
        t.same(all.map((r) => r.seq), seqs, 'everything, ascending by seq')
        t.same(all, added, 'same records as add returned')

        const third = seqs[2] ?? 0
        t.same((await store.revocations.since(third, now, 100)).map((r) => r.seq), seqs.slice(3), 'only seq > afterSeq')
        t.same((await store.revocations.since(0, now, 2)).map((r) => r.seq), seqs.slice(0, 2), 'at most limit, lowest first')
        t.same((await store.revocations.since(third, now, 2)).map((r) => r.seq), seqs.slice(3, 5))
        t.same(await store.revocations.since(seqs[5] ?? 0, now, 100), [], 'nothing after the last')

        const copy = all[0]
        if (copy !== undefined) copy.value = 'mutated'
        t.equal((await store.revocations.since(0, now, 1))[0]?.value, 'j0', 'records are copies')
      })

      await withStore(t, 'since leaves out expired entries', async (t, store) => {
        const now = new Date(base + 90 * 60_000)
        const live1 = await store.revocations.add(entry('live1'))
        await store.revocations.add(entry('expired', HOUR))
        await store.revocations.add(entry('boundary', 90 * 60_000)) // expiresAt === now
        const live2 = await store.revocations.add(entry('live2'))

        t.same((await store.revocations.since(0, now, 100)).map((r) => r.value), ['live1', 'live2'])
        t.same((await store.revocations.since(0, now, 1)).map((r) => r.seq), [live1.seq],
          'limit counts live entries only')
        t.same((await store.revocations.since(live1.seq, now, 1)).map((r) => r.seq), [live2.seq],
          'expired entries do not use up the limit')
        t.equal((await store.revocations.since(0, new Date(base), 100)).length, 4, 'all four are live earlier')
      })

      await withStore(t, 'bounds: the last seq handed out, and a watermark no live entry is below', async (t, store) => {
        t.same(await store.revocations.bounds(), { prunedThrough: 0, lastSeq: 0 }, 'an empty log')
        const first = await store.revocations.add(entry('b1'))
        const second = await store.revocations.add(entry('b2'))
        const bounds = await store.revocations.bounds()
        t.equal(bounds.lastSeq, second.seq, 'lastSeq is the newest seq')
        t.ok(bounds.prunedThrough < first.seq, 'nothing deleted: every entry is above the watermark')
        t.same((await store.revocations.since(bounds.prunedThrough, new Date(base), 100)).map((r) => r.seq),
          [first.seq, second.seq], 'since(prunedThrough) reaches every live entry')
      })

      // The race: entry A has its number but is not stored yet while B, numbered
      // after it, is. bounds() must not report A's number as pruned (a reader
      // resynchronised past it would never receive A), nor a watermark above lastSeq.
      {
        const held = gate()
        let numbered: (seq: number) => void = () => {}
        const aNumbered = new Promise<number>((resolve) => { numbered = resolve })
        let first = true
        const hooks: StoreHooks = {
          revocationNumbered: async (seq) => {
            if (!first) return
            first = false
            numbered(seq)
            await held.wait()
          }
        }
        await withStore(t, 'bounds never counts as pruned an entry numbered but not yet stored', async (t, store) => {
          const a = store.revocations.add(entry('a'))
          const aSeq = await aNumbered
          const b = await store.revocations.add(entry('b'))
          t.ok(b.seq > aSeq, 'b is numbered after a')
          const during = await store.revocations.bounds()
          t.ok(during.prunedThrough < aSeq, `prunedThrough ${during.prunedThrough} is below a's seq ${aSeq} while a is in flight`)
          t.ok(during.prunedThrough <= during.lastSeq, 'prunedThrough never exceeds lastSeq')
          t.ok(during.lastSeq >= b.seq, 'lastSeq covers every stored entry')
          held.open()
          await a
          const after = await store.revocations.bounds()
          t.ok(after.prunedThrough >= during.prunedThrough, 'the watermark never moves back')
          t.ok(after.prunedThrough < aSeq, 'and stays below the live entries')
          const values = (await store.revocations.since(during.prunedThrough, new Date(base), 100)).map((r) => r.value)
          t.ok(values.includes('a') && values.includes('b'), 'a reader at the watermark gets both entries')
        }, hooks)
      }

      // A reader that polls by seq while A is late (B visible first) moves its
      // cursor past A's number; once A's write completes, A must still reach it.
      {
        const held = gate()
        let numbered: () => void = () => {}
        const aNumbered = new Promise<void>((resolve) => { numbered = resolve })
        let first = true
        const hooks: StoreHooks = {
          revocationNumbered: async () => {
            if (!first) return
            first = false
            numbered()
            await held.wait()
          }
        }
        await withStore(t, 'an entry stored late still reaches a reader whose cursor passed its number', async (t, store) => {
          const now = new Date(base)
          const a = store.revocations.add(entry('late'))
          await aNumbered
          await store.revocations.add(entry('early'))
          const seen = await store.revocations.since(0, now, 100)
          const cursor = Math.max(0, ...seen.map((r) => r.seq))
          await new Promise((resolve) => setTimeout(resolve, REVOCATION_LATE_MS + 100))
          held.open()
          const record = await a
          t.equal(record.value, 'late')
          const later = await store.revocations.since(cursor, now, 100)
          t.ok([...seen, ...later].some((r) => r.value === 'late'), 'the late entry is delivered, before or after the cursor')
        }, hooks)
      }
    })

    await t.test('clients', async (t) => {
      const newClient = (clientId: string = randomUUID()) => ({
        clientId,
        name: 'Orders service',
        secretHash: '$argon2id$fake',
        grants: ['client_credentials' as const, 'password' as const],
        audiences: ['orders-api'],
        scopes: ['orders:read', 'orders:write'],
        accessTokenTtl: 300,
        refreshTokenTtl: null
      })

      await withStore(t, 'create returns the record, find returns the same', async (t, store) => {
        const before = Date.now()
        const input = newClient()
        const created = await store.clients.create(input)
        t.same(created, { ...input, disabled: false, createdAt: created.createdAt, previousSecret: null, dpopBoundAccessTokens: false })
        t.ok(created.createdAt instanceof Date && created.createdAt.getTime() >= before - 1000)
        t.notOk('_id' in created, 'no storage id leaks')
        t.same(await store.clients.find(input.clientId), created)
        t.equal(await store.clients.find('nobody'), null)

        input.scopes.push('mutated')
        created.grants.push('refresh_token')
        t.same((await store.clients.find(input.clientId))?.scopes, ['orders:read', 'orders:write'], 'input is copied')
        t.same((await store.clients.find(input.clientId))?.grants, ['client_credentials', 'password'], 'output is a copy')
      })

      await withStore(t, 'dpopBoundAccessTokens: set at create, flipped by setDpopBound', async (t, store) => {
        const bound = await store.clients.create({ ...newClient(), dpopBoundAccessTokens: true })
        t.equal(bound.dpopBoundAccessTokens, true)
        t.equal((await store.clients.find(bound.clientId))?.dpopBoundAccessTokens, true)
        const plain = await store.clients.create(newClient())
        t.equal((await store.clients.setDpopBound(plain.clientId, true))?.dpopBoundAccessTokens, true)
        t.equal((await store.clients.find(plain.clientId))?.dpopBoundAccessTokens, true)
        t.equal((await store.clients.setDpopBound(plain.clientId, false))?.dpopBoundAccessTokens, false)
        t.equal(await store.clients.setDpopBound('nobody', true), null)
      })

      await withStore(t, 'a public client (no secret) keeps secretHash null', async (t, store) => {
        const input = { ...newClient(), secretHash: null, grants: ['password' as const, 'refresh_token' as const] }
        const created = await store.clients.create(input)
        t.equal(created.secretHash, null)
        t.equal((await store.clients.find(input.clientId))?.secretHash, null, 'found with null, not undefined or a string')
        t.equal((await store.clients.list()).find((c) => c.clientId === input.clientId)?.secretHash, null, 'listed with null')
      })

      await withStore(t, 'a duplicate client_id is a conflict', async (t, store) => {
        const input = newClient('dup')
        await store.clients.create(input)
        const err = await store.clients.create({ ...input, name: 'other' }).then(() => undefined, (e: unknown) => e)
        t.ok(err instanceof AppError)
        t.equal((err as AppError).code, 'conflict')
        t.equal((await store.clients.find('dup'))?.name, 'Orders service', 'the first one is untouched')
      })

      await withStore(t, 'list is oldest first; setDisabled flips the flag', async (t, store) => {
        t.same(await store.clients.list(), [])
        const a = await store.clients.create(newClient('a-client'))
        await new Promise((resolve) => setTimeout(resolve, 5))
        const b = await store.clients.create(newClient('b-client'))
        t.same((await store.clients.list()).map((c) => c.clientId), [a.clientId, b.clientId])

        const disabled = await store.clients.setDisabled(a.clientId, true)
        t.equal(disabled?.disabled, true, 'returns the client as it is now')
        t.equal((await store.clients.find(a.clientId))?.disabled, true)
        t.equal((await store.clients.find(b.clientId))?.disabled, false, 'others untouched')
        t.equal((await store.clients.setDisabled(a.clientId, true))?.disabled, true, 'idempotent')
        t.equal((await store.clients.setDisabled(a.clientId, false))?.disabled, false)
        t.equal(await store.clients.setDisabled('nobody', true), null, 'unknown: null')
      })

      await withStore(t, 'setSecret replaces the hash and sets or clears previousSecret in one write', async (t, store) => {
        const a = await store.clients.create(newClient('rot-a'))
        const b = await store.clients.create(newClient('rot-b'))
        const expiresAt = new Date(Date.now() + HOUR)
        const rotated = await store.clients.setSecret(a.clientId, '$argon2id$new', { hash: '$argon2id$fake', expiresAt })
        t.equal(rotated?.secretHash, '$argon2id$new')
        t.same(rotated?.previousSecret, { hash: '$argon2id$fake', expiresAt })
        const found = await store.clients.find(a.clientId)
        t.equal(found?.secretHash, '$argon2id$new')
        t.equal(found?.previousSecret?.expiresAt.getTime(), expiresAt.getTime())
        t.same(found?.scopes, a.scopes, 'the rest is untouched')
        t.same((await store.clients.list()).find((c) => c.clientId === a.clientId)?.previousSecret?.hash, '$argon2id$fake', 'list shows it too')
        t.equal((await store.clients.find(b.clientId))?.secretHash, '$argon2id$fake', 'others untouched')
        const again = await store.clients.setSecret(a.clientId, '$argon2id$newer', null)
        t.equal(again?.previousSecret, null, 'null forgets the old one')
        t.equal((await store.clients.find(a.clientId))?.previousSecret, null)
        t.equal(await store.clients.setSecret('nobody', 'h', null), null, 'unknown: null')
      })
    })

    await t.test('dpop proofs', async (t) => {
      const base = Date.now() + HOUR
      const at = (ms: number): Date => new Date(base + ms)

      await withStore(t, 'claim is insert-if-absent until the entry expires', async (t, store) => {
        t.equal(await store.dpopProofs.claim('k1', at(60_000), at(0)), true, 'the first claim')
        t.equal(await store.dpopProofs.claim('k1', at(120_000), at(1000)), false, 'a replay')
        t.equal(await store.dpopProofs.claim('k2', at(60_000), at(1000)), true, 'another key')
        t.equal(await store.dpopProofs.claim('k1', at(200_000), at(60_000)), true, 'claimed again once expired, before any sweep')
        t.equal(await store.dpopProofs.claim('k1', at(300_000), at(100_000)), false, 'and then held until its new expiry')
      })

      await withStore(t, '20 concurrent claims of one key: exactly one wins', async (t, store) => {
        const results = await Promise.all(Array.from({ length: 20 }, async () => store.dpopProofs.claim('same', at(60_000), at(0))))
        t.equal(results.filter((r) => r).length, 1)
      })

      await withStore(t, '20 concurrent claims of one expired key: exactly one takes it over', async (t, store) => {
        await store.dpopProofs.claim('old', at(1000), at(0))
        const results = await Promise.all(Array.from({ length: 20 }, async () => store.dpopProofs.claim('old', at(90_000), at(30_000))))
        t.equal(results.filter((r) => r).length, 1)
      })
    })

    await t.test('signing keys', async (t) => {
      const base = Date.now()
      const key = (kid: string, activatesOffset = 0) => ({
        kid,
        alg: 'ES256' as const,
        publicKey: `-----BEGIN PUBLIC KEY-----${kid}`,
        privateKey: `sealed-${kid}`,
        activatesAt: new Date(base + activatesOffset)
      })

      await withStore(t, 'add returns the key; the newest has no expiry, the older ones get one', async (t, store) => {
        t.same(await store.keys.list(new Date(base)), [])
        const first = await store.keys.add(key('k1'), new Date(base + HOUR))
        t.same(first, { ...key('k1'), createdAt: first.createdAt, expiresAt: null })
        t.notOk('_id' in first, 'no storage id leaks')
        t.same(await store.keys.list(new Date(base)), [first])

        const retireAt = new Date(base + 2 * HOUR)
        const second = await store.keys.add(key('k2', 60_000), retireAt)
        const listed = await store.keys.list(new Date(base))
        t.same(listed.map((k) => k.kid), ['k1', 'k2'], 'ascending by activation')
        t.equal(listed[0]?.expiresAt?.getTime(), retireAt.getTime(), 'the older key expires when told')
        t.equal(listed[1]?.expiresAt, null, 'the newest has none')
        t.same(listed[1], second)

        await store.keys.add(key('k3', 120_000), new Date(base + 3 * HOUR))
        const after = await store.keys.list(new Date(base))
        t.equal(after[0]?.expiresAt?.getTime(), retireAt.getTime(), 'an expiry once set is kept')
        t.equal(after[1]?.expiresAt?.getTime(), base + 3 * HOUR)
        t.equal(after[2]?.expiresAt, null)
      })

      await withStore(t, 'list leaves out expired keys; duplicate kid is a conflict', async (t, store) => {
        await store.keys.add(key('old'), new Date(base + HOUR))
        await store.keys.add(key('new', 1000), new Date(base + HOUR))
        t.same((await store.keys.list(new Date(base + HOUR))).map((k) => k.kid), ['new'], 'expiresAt === now is expired')
        t.same((await store.keys.list(new Date(base + HOUR - 1))).map((k) => k.kid), ['old', 'new'])

        const err = await store.keys.add(key('new'), new Date(base + 2 * HOUR)).then(() => undefined, (e: unknown) => e)
        t.equal((err as AppError | undefined)?.code, 'conflict')
        t.same((await store.keys.list(new Date(base))).map((k) => k.kid), ['old', 'new'], 'nothing changed')
        const newest = (await store.keys.list(new Date(base)))[1]
        t.equal(newest?.expiresAt, null, 'a refused add retires nothing')
      })

      await withStore(t, 'an add of an older key never retires a newer one, and retires itself', async (t, store) => {
        await store.keys.add(key('newer', 60_000), new Date(base + 2 * HOUR))
        const older = await store.keys.add(key('older'), new Date(base + HOUR))
        const listed = await store.keys.list(new Date(base))
        t.same(listed.map((k) => k.kid), ['older', 'newer'])
        t.equal(listed[1]?.expiresAt, null, 'the newer key stays unretired')
        t.equal(older.expiresAt?.getTime(), base + 60_000 + HOUR, 'the older key expires a lifetime after the newer one activates')
        t.equal(listed[0]?.expiresAt?.getTime(), base + 60_000 + HOUR)
      })

      // Two adds at once, each paused after its insert until the other has
      // finished: every order of the steps must leave the newest key unretired.
      for (const pausedFirst of ['newer', 'older'] as const) {
        const held = gate()
        let inserted: () => void = () => {}
        const pausedInserted = new Promise<void>((resolve) => { inserted = resolve })
        const hooks: StoreHooks = {
          keyInserted: async (kid) => {
            if (kid !== pausedFirst) return
            inserted()
            await held.wait()
          }
        }
        await withStore(t, `two concurrent adds (the ${pausedFirst} key paused after its insert) leave the newest key signing`, async (t, store) => {
          const keys = { newer: key('newer', 1000), older: key('older') }
          const other = pausedFirst === 'newer' ? 'older' : 'newer'
          const paused = store.keys.add(keys[pausedFirst], new Date(base + HOUR))
          await pausedInserted
          await store.keys.add(keys[other], new Date(base + HOUR))
          held.open()
          await paused
          const listed = await store.keys.list(new Date(base))
          t.same(listed.map((k) => k.kid), ['older', 'newer'], 'both are still published')
          t.equal(listed.find((k) => k.kid === 'newer')?.expiresAt, null, 'the newer key is not retired')
          t.ok(listed.find((k) => k.kid === 'older')?.expiresAt instanceof Date, 'the older key is retired')
          t.same((await store.keys.list(new Date(base + 2 * HOUR))).map((k) => k.kid), ['newer'],
            'once the retired key expires a key is left to sign with')
        }, hooks)
      }
    })
  })
}
