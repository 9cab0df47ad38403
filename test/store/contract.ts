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
import {
  REVOCATION_LATE_MS, type NewSession, type NewSsfEvent, type NewSsfStream, type Rotation, type SessionRecord, type Store, type StoreHooks
} from '../../src/store/types.js'

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

      await withStore(t, 'list pages through the users by username', async (t, store) => {
        t.same(await store.users.list({ limit: 10 }), [], 'none yet')
        const names = ['mike', 'Alice', 'zed', 'bob.smith@example.com', 'carl']
        const created = new Map<string, string>()
        for (const name of names) created.set(name.toLowerCase(), (await store.users.create({ username: name, passwordHash: 'h' })).id)
        const all = await store.users.list({ limit: 100 })
        t.same(all.map((u) => u.username), ['alice', 'bob.smith@example.com', 'carl', 'mike', 'zed'], 'ordered by the lower-cased name')
        t.same(all.map((u) => u.id), all.map((u) => created.get(u.username)), 'whole records')
        const first = await store.users.list({ limit: 2 })
        t.same(first.map((u) => u.username), ['alice', 'bob.smith@example.com'])
        const next = await store.users.list({ after: first[first.length - 1]?.username, limit: 2 })
        t.same(next.map((u) => u.username), ['carl', 'mike'], 'after is exclusive')
        t.same((await store.users.list({ after: 'MIKE', limit: 2 })).map((u) => u.username), ['zed'], 'after is case-insensitive')
        t.same(await store.users.list({ after: 'zed', limit: 2 }), [], 'past the end: empty')
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

      await withStore(t, 'beginLoginAttempt refuses with the lock end the store holds, not one from the caller\'s policy', async (t, store) => {
        const user = await store.users.create({ username: 'hank', passwordHash: 'h' })
        const lockedAt = new Date(Date.now() + HOUR)
        await store.users.beginLoginAttempt(user.id, { threshold: 1, lockSeconds: 60, now: lockedAt })
        const stored = (await store.users.findById(user.id))?.lockedUntil
        t.equal(stored?.getTime(), lockedAt.getTime() + 60_000, 'locked by the first policy')
        // Another instance, its clock 30 s on, with a longer lock configured.
        const refused = await store.users.beginLoginAttempt(user.id, { threshold: 1, lockSeconds: 900, now: new Date(lockedAt.getTime() + 30_000) })
        t.equal(refused?.getTime(), lockedAt.getTime() + 60_000, 'the stored end, not now + 900 s')
        t.equal((await store.users.findById(user.id))?.lockedUntil?.getTime(), lockedAt.getTime() + 60_000, 'and the lock is unchanged')
        t.equal((await store.users.findById(user.id))?.failedLogins, 0, 'nothing counted')
      })

      // Logins that succeed clear the lock while failed ones set it again: every
      // refusal must name a lock end that some admitted attempt stored.
      await withStore(t, 'attempts racing with clears: every refusal names a lock end that was stored', async (t, store) => {
        const user = await store.users.create({ username: 'iris', passwordHash: 'h' })
        const at = Date.now() + HOUR
        const policies = [0, 1, 2].map((i) => ({ threshold: 1, lockSeconds: 60 + i, now: new Date(at + i) }))
        const ends = new Set(policies.map((p) => p.now.getTime() + p.lockSeconds * 1000))
        const results = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
          if (i % 3 === 0) {
            await store.users.clearLoginFailures(user.id)
            return null
          }
          return store.users.beginLoginAttempt(user.id, policies[i % 3]!)
        }))
        for (const r of results) if (r !== null) t.ok(ends.has(r.getTime()), `refused until ${r.toISOString()}, a stored lock end`)
        t.ok(results.some((r) => r === null), 'some attempts were admitted')
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

      await withStore(t, 'per address: a pair locks at the threshold, the account at the account threshold', async (t, store) => {
        const user = await store.users.create({ username: 'kate', passwordHash: 'h' })
        const now = new Date(Date.now() + HOUR)
        let accountThreshold = 5
        const at = (address: string, when = now) => ({ threshold: 2, accountThreshold, lockSeconds: 60, now: when, address })
        t.equal(await store.users.beginLoginAttempt(user.id, at('a')), null, 'a: 1 admitted')
        t.equal(await store.users.beginLoginAttempt(user.id, at('a')), null, 'a: 2 (its threshold) admitted')
        const aLocked = await store.users.beginLoginAttempt(user.id, at('a'))
        t.equal(aLocked?.getTime(), now.getTime() + 60_000, 'a is locked with its lock end')
        t.equal((await store.users.findById(user.id))?.lockedUntil, null, 'the account is not')
        t.equal((await store.users.findById(user.id))?.failedLogins, 2, 'the refused attempt did not reach the account count')
        t.equal(await store.users.beginLoginAttempt(user.id, at('b')), null, 'b is admitted meanwhile')
        t.equal(await store.users.beginLoginAttempt(user.id, at('c')), null)
        t.equal(await store.users.beginLoginAttempt(user.id, at('d')), null, 'the fifth failure overall (the account threshold) is admitted')
        const everyone = await store.users.beginLoginAttempt(user.id, at('e'))
        t.equal(everyone?.getTime(), now.getTime() + 60_000, 'then every address is refused')
        t.equal((await store.users.findById(user.id))?.lockedUntil?.getTime(), now.getTime() + 60_000, 'by the account lock')

        await store.users.clearAllLoginFailures(user.id)
        t.equal((await store.users.findById(user.id))?.lockedUntil, null, 'clearAll lifts the account lock')
        t.equal(await store.users.beginLoginAttempt(user.id, at('a')), null, 'and each address\'s')

        const later = new Date(now.getTime() + 61_000)
        accountThreshold = 100 // the per-address rules alone from here on
        await store.users.beginLoginAttempt(user.id, at('f'))
        await store.users.clearLoginFailures(user.id, 'f')
        t.equal(await store.users.beginLoginAttempt(user.id, at('f')), null, 'a success from f clears f')
        t.equal(await store.users.beginLoginAttempt(user.id, at('f')), null, 'so f counts from zero: 2 admitted')
        t.ok(await store.users.beginLoginAttempt(user.id, at('f')), 'f locked at its threshold')
        t.equal(await store.users.beginLoginAttempt(user.id, at('f', later)), null, 'and admitted again once the lock has ended')
        t.equal(await store.users.beginLoginAttempt(user.id, at('g', later)), null)
        t.equal(await store.users.beginLoginAttempt(user.id, at('g', new Date(later.getTime() + 61_000))), null,
          'a count lockSeconds old is forgotten: g counts from one again')
        t.equal(await store.users.beginLoginAttempt(user.id, at('g', new Date(later.getTime() + 61_000))), null)
      })

      await withStore(t, 'the account-wide count covers lockSeconds from its first failure, then starts again', async (t, store) => {
        const user = await store.users.create({ username: 'kim', passwordHash: 'h' })
        const start = Date.now() + HOUR
        const at = (offsetMs: number) => ({ threshold: 3, lockSeconds: 60, now: new Date(start + offsetMs) })
        t.equal(await store.users.beginLoginAttempt(user.id, at(0)), null)
        t.equal(await store.users.beginLoginAttempt(user.id, at(30_000)), null)
        t.equal((await store.users.findById(user.id))?.failedLogins, 2, 'two inside the window')
        t.equal(await store.users.beginLoginAttempt(user.id, at(61_000)), null, 'the window has passed')
        t.equal((await store.users.findById(user.id))?.failedLogins, 1, 'so the count starts again')
        t.equal((await store.users.findById(user.id))?.lockedUntil, null)
        await store.users.beginLoginAttempt(user.id, at(62_000))
        t.equal(await store.users.beginLoginAttempt(user.id, at(63_000)), null, 'the third inside the new window is admitted')
        t.equal((await store.users.findById(user.id))?.lockedUntil?.getTime(), start + 63_000 + 60_000, 'and locks')
      })

      await withStore(t, 'per address: concurrent attempts from one address admit at most its threshold', async (t, store) => {
        const user = await store.users.create({ username: 'liam', passwordHash: 'h' })
        const policy = { threshold: 4, accountThreshold: 100, lockSeconds: 30, now: new Date(Date.now() + HOUR), address: '192.0.2.1' }
        const results = await Promise.all(Array.from({ length: 20 }, async () => store.users.beginLoginAttempt(user.id, policy)))
        t.equal(results.filter((r) => r === null).length, 4, '20 at once, threshold 4: 4 admitted')
        t.equal((await store.users.findById(user.id))?.failedLogins, 4, 'only those reached the account count')
      })

      await withStore(t, 'securityVersion: bumped by every password, disable and roles change, not by a rehash', async (t, store) => {
        const user = await store.users.create({ username: 'mia', passwordHash: 'h1' })
        t.equal(user.securityVersion, 0)
        const version = async (): Promise<number | undefined> => (await store.users.findById(user.id))?.securityVersion
        await store.users.setPasswordHash(user.id, 'h2')
        t.equal(await version(), 1, 'a password change')
        await store.users.upgradePasswordHash(user.id, 'h2', 'h2-rehashed')
        t.equal(await version(), 1, 'a rehash of the same password is not a change')
        t.equal((await store.users.findById(user.id))?.passwordHash, 'h2-rehashed')
        await store.users.upgradePasswordHash(user.id, 'h2', 'stale')
        t.equal((await store.users.findById(user.id))?.passwordHash, 'h2-rehashed', 'a rehash of a hash that changed meanwhile is dropped')
        await store.users.setDisabled(user.id, true)
        t.equal(await version(), 2, 'a disable')
        await store.users.setDisabled(user.id, false)
        t.equal(await version(), 3, 'an enable')
        t.equal((await store.users.setRoles(user.id, ['ops']))?.securityVersion, 4, 'a roles change')
        await store.users.beginLoginAttempt(user.id, { threshold: 1, lockSeconds: 60, now: new Date(Date.now() + HOUR) })
        await store.users.clearLoginFailures(user.id)
        t.equal(await version(), 4, 'lockout bookkeeping is not')
      })
    })

    await t.test('sessions', async (t) => {
      await withStore(t, 'createIfCurrent: only while the user is enabled and at the version the check read', async (t, store) => {
        const user = await store.users.create({ username: 'nora', passwordHash: 'h' })
        const base = Date.now()
        const session = (sid: string, userId = user.id) => ({
          sid, userId, clientId: 'c', currentJti: `j-${sid}`, createdAt: new Date(base), expiresAt: new Date(base + HOUR), absoluteExpiresAt: new Date(base + 2 * HOUR)
        })
        const created = await store.sessions.createIfCurrent(session('s1'), 0)
        t.equal(created?.sid, 's1', 'current: created')
        t.equal((await store.sessions.find('s1'))?.revokedAt, null, 'and live')
        await store.users.setRoles(user.id, ['ops'])
        t.equal(await store.sessions.createIfCurrent(session('s2'), 0), null, 'a stale version: refused')
        const stale = await store.sessions.find('s2')
        t.ok(stale === null || stale.revokedAt !== null, 'and nothing live is stored')
        t.ok(await store.sessions.createIfCurrent(session('s3'), 1), 'the new version: created')
        await store.users.setDisabled(user.id, true)
        t.equal(await store.sessions.createIfCurrent(session('s4'), 2), null, 'a disabled user: refused, whatever the version')
        t.equal(await store.sessions.createIfCurrent(session('s5', randomUUID()), 0), null, 'an unknown user: refused')
        t.same((await store.sessions.listForUser(user.id, new Date(base))).map((s) => s.sid).sort(), ['s1', 's3'])
      })

      // The race: a login read the user (version v) and checked the password;
      // the user changes (password, disable, roles) and the change ends the
      // user's sessions; then the login creates its session. Whatever the
      // order of the three steps, no session created from the stale check is
      // live afterwards.
      await withStore(t, 'createIfCurrent against a concurrent change: a stale session never stays live', async (t, store) => {
        const base = Date.now()
        for (let round = 0; round < 20; round++) {
          const user = await store.users.create({ username: `race${round}`, passwordHash: 'h' })
          const sid = `race-${round}`
          const change = async (): Promise<void> => {
            await store.users.setPasswordHash(user.id, 'h2')
            await store.sessions.revokeAllForUser(user.id, 'password_reset', new Date(base))
          }
          const login = store.sessions.createIfCurrent({
            sid, userId: user.id, clientId: 'c', currentJti: 'j', createdAt: new Date(base), expiresAt: new Date(base + HOUR), absoluteExpiresAt: new Date(base + HOUR)
          }, user.securityVersion)
          // Interleave: the change starts before, with, or after the login's write.
          const order = round % 3
          if (order === 0) await change()
          const [created] = await Promise.all([login, order === 1 ? change() : Promise.resolve()])
          if (order === 2) await change()
          const stored = await store.sessions.find(sid)
          t.ok(stored === null || stored.revokedAt !== null, `round ${round}: the session is not live (created: ${created !== null})`)
        }
      })

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
        t.same((await store.sessions.revokeAllForClient('shop', 'client_disabled', now)).sort(), [mine.sid, mine2.sid].sort(), 'the sids it revoked')
        for (const sid of [mine.sid, mine2.sid]) {
          const s = await store.sessions.find(sid)
          t.equal(s?.revokedAt?.getTime(), now.getTime())
          t.equal(s?.revokedReason, 'client_disabled')
        }
        t.equal((await store.sessions.find(ended.sid))?.revokedReason, 'logout', 'an ended session keeps its reason')
        t.equal((await store.sessions.find(other.sid))?.revokedAt, null, 'other clients untouched')
        t.same(await store.sessions.revokeAllForClient('shop', 'again', now), [], 'nothing left')
        t.same(await store.sessions.revokeAllForClient('nobody', 'x', now), [])
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

      await withStore(t, 'addMany numbers a batch consecutively, in order, even with adds running beside it', async (t, store) => {
        t.same(await store.revocations.addMany([]), [], 'an empty batch writes nothing')
        t.same(await store.revocations.bounds(), { prunedThrough: 0, lastSeq: 0 }, 'and numbers nothing')
        const single = await store.revocations.add(entry('before'))
        const batch = Array.from({ length: 25 }, (_, i) => ({ kind: 'sid' as const, value: `batch-${i}`, expiresAt: new Date(base + HOUR) }))
        const batchWrite = store.revocations.addMany(batch)
        const besideWrites = Array.from({ length: 5 }, async (_, i) => store.revocations.add(entry(`beside-${i}`)))
        const records = await batchWrite
        const besides = (await Promise.all(besideWrites)).map((r) => r.seq)
        t.same(records.map((r) => r.value), batch.map((e) => e.value), 'the records in the order given')
        t.ok(records.every((r) => r.kind === 'sid' && r.expiresAt.getTime() === base + HOUR && r.issuedBefore === null && r.exceptSid === null))
        t.ok(records.every((r) => !('_id' in r)), 'no storage id leaks')
        const seqs = records.map((r) => r.seq)
        t.ok(seqs[0]! > single.seq, 'after the earlier entries')
        t.ok(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1), 'consecutive numbers')
        t.ok(besides.every((seq) => seq < seqs[0]! || seq > seqs.at(-1)!), 'no add beside it is numbered inside the batch')
        const stored = await store.revocations.since(single.seq, new Date(base), 100)
        t.same(stored.filter((r) => r.kind === 'sid').map((r) => [r.seq, r.value]), records.map((r) => [r.seq, r.value]), 'stored as returned')
        t.equal(stored.length, 30, 'every entry of both')
      })

      await withStore(t, 'a user entry keeps issuedBefore and exceptSid; other entries have null', async (t, store) => {
        const user = await store.revocations.add({ kind: 'user', value: 'u1', expiresAt: new Date(base + HOUR), issuedBefore: 1_700_000_000, exceptSid: 's9' })
        t.equal(user.kind, 'user')
        t.equal(user.issuedBefore, 1_700_000_000)
        t.equal(user.exceptSid, 's9')
        const plain = await store.revocations.add(entry('j-plain'))
        t.equal(plain.issuedBefore, null)
        t.equal(plain.exceptSid, null)
        t.same(await store.revocations.since(0, new Date(base), 10), [user, plain], 'read back as written')
      })

      await withStore(t, 'a key entry (a revoked signing key) is stored and read back', async (t, store) => {
        const key = await store.revocations.add({ kind: 'key', value: 'kid-1', expiresAt: new Date(base + HOUR) })
        t.match(key, { kind: 'key', value: 'kid-1', issuedBefore: null, exceptSid: null })
        t.same(await store.revocations.since(0, new Date(base), 10), [key])
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

      await withStore(t, 'sweep: expired entries go, the watermark rises to the highest one deleted and never moves back', async (t, store) => {
        const e1 = await store.revocations.add(entry('s1', HOUR))
        const e2 = await store.revocations.add(entry('s2', 2 * HOUR))
        const e3 = await store.revocations.add(entry('s3', 4 * HOUR))
        t.same(await store.revocations.bounds(), { prunedThrough: 0, lastSeq: e3.seq }, 'nothing deleted yet')
        t.equal(await store.sweep(new Date(base + 3 * HOUR)), 2, 'the two expired entries go')
        t.same(await store.revocations.bounds(), { prunedThrough: e2.seq, lastSeq: e3.seq }, 'the watermark covers what went')
        t.same((await store.revocations.since(0, new Date(0), 100)).map((r) => r.seq), [e3.seq], 'only the live entry is left')
        t.ok(e1.seq < e2.seq)
        t.equal(await store.sweep(new Date(base + HOUR)), 0, 'an earlier clock deletes nothing')
        t.equal((await store.revocations.bounds()).prunedThrough, e2.seq, 'and does not move the watermark back')
        t.equal(await store.sweep(new Date(base + 3 * HOUR)), 0, 'a second sweep is a no-op')
        const e4 = await store.revocations.add(entry('s4'))
        t.ok(e4.seq > e3.seq, 'numbers go on above the deleted ones')
        t.equal(await store.sweep(new Date(base + 5 * HOUR)), 2)
        const emptied = await store.revocations.bounds()
        t.same(emptied, { prunedThrough: e4.seq, lastSeq: e4.seq }, 'an emptied log: watermark and last seq meet')
      })

      // The race as it happens in production: the log has been emptied by the
      // sweep, then A is numbered but not stored while B, numbered after it, is
      // stored and already expired, and a sweep runs. Neither bounds() nor the
      // sweep may put the watermark at or above A's number while A is on its way
      // (a reader resynchronised past it would never receive A). A store that
      // numbers and stores in one step has A stored before B exists.
      {
        const held = gate()
        let numbered: (seq: number) => void = () => {}
        const aNumbered = new Promise<number>((resolve) => { numbered = resolve })
        let armed = false
        const hooks: StoreHooks = {
          revocationNumbered: async (seq) => {
            if (!armed) return
            armed = false
            numbered(seq)
            await held.wait()
          }
        }
        await withStore(t, 'after the log was emptied, the watermark never passes an entry numbered but not yet stored', async (t, store) => {
          const old = await store.revocations.add(entry('old', HOUR))
          await store.sweep(new Date(base + 2 * HOUR))
          t.same(await store.revocations.bounds(), { prunedThrough: old.seq, lastSeq: old.seq }, 'the log is empty')
          armed = true
          const a = store.revocations.add(entry('a'))
          const aSeq = await Promise.race([aNumbered, a.then((r) => r.seq)])
          const b = await store.revocations.add({ kind: 'jti', value: 'b', expiresAt: new Date(Date.now() + 1000) })
          t.ok(b.seq > aSeq, 'b is numbered after a')
          const aVisible = (await store.revocations.since(0, new Date(0), 100)).some((r) => r.seq === aSeq)
          const during = await store.revocations.bounds()
          t.ok(aVisible || during.prunedThrough < aSeq, `bounds: prunedThrough ${during.prunedThrough} below a's seq ${aSeq} while a is on its way`)
          t.ok(during.prunedThrough <= during.lastSeq, 'prunedThrough never exceeds lastSeq')
          // b has expired by the sweep's clock, but was stored a moment ago.
          await store.sweep(new Date(b.createdAt.getTime() + 2000))
          const swept = await store.revocations.bounds()
          t.ok(aVisible || swept.prunedThrough < aSeq, `sweep: prunedThrough ${swept.prunedThrough} still below ${aSeq}`)
          t.ok(swept.prunedThrough >= during.prunedThrough, 'the watermark never moves back')
          t.ok(swept.prunedThrough <= swept.lastSeq)
          held.open()
          await a
          if (!aVisible) {
            const values = (await store.revocations.since(swept.prunedThrough, new Date(base), 100)).map((r) => r.value)
            t.ok(values.includes('a'), 'a reader at the watermark receives a once it is stored')
          }
        }, hooks)
      }
    })

    await t.test('access-token lifetimes', async (t) => {
      await withStore(t, 'record keeps the later time per lifetime; longestLive is the longest whose tokens may live', async (t, store) => {
        const base = Date.now() + HOUR
        t.equal(await store.lifetimes.longestLive(new Date(base)), 0, 'nothing recorded')
        await store.lifetimes.record(300, new Date(base))
        await store.lifetimes.record(900, new Date(base + 60_000))
        await store.lifetimes.record(900, new Date(base)) // an earlier time never moves it back
        t.equal(await store.lifetimes.longestLive(new Date(base)), 900)
        t.equal(await store.lifetimes.longestLive(new Date(base + 60_000 + 899_000)), 900, 'until its last token may expire')
        t.equal(await store.lifetimes.longestLive(new Date(base + 60_000 + 900_000)), 0, 'then none (300 s ones expired long ago)')
        t.equal(await store.lifetimes.longestLive(new Date(base + 299_000)), 900)
        await store.lifetimes.record(10, new Date(base + 3_600_000))
        t.equal(await store.lifetimes.longestLive(new Date(base + 3_600_000)), 10, 'a shorter one still live')
      })
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

      await withStore(t, 'remove forgets a key at once; the newest key left has no expiry', async (t, store) => {
        await store.keys.add(key('k1'), new Date(base + HOUR))
        await store.keys.add(key('k2', 60_000), new Date(base + HOUR))
        const removed = await store.keys.remove('k2', new Date(base))
        t.equal(removed?.kid, 'k2')
        const listed = await store.keys.list(new Date(base))
        t.same(listed.map((k) => [k.kid, k.expiresAt]), [['k1', null]], 'k1 was retired by k2; it is the newest again')
        t.equal(await store.keys.remove('k2', new Date(base)), null, 'a second remove finds nothing')
        t.equal(await store.keys.remove('unknown', new Date(base)), null)

        await store.keys.add(key('k3', 120_000), new Date(base + HOUR))
        t.equal((await store.keys.remove('k1', new Date(base)))?.kid, 'k1', 'an older key goes')
        t.same((await store.keys.list(new Date(base))).map((k) => [k.kid, k.expiresAt]), [['k3', null]], 'the newest is untouched')
        t.same(await store.keys.list(new Date(base + 2 * HOUR)).then((keys) => keys.map((k) => k.kid)), ['k3'])
      })

      await withStore(t, 'remove never gives an expired key back its place', async (t, store) => {
        await store.keys.add(key('old'), new Date(base + HOUR))
        await store.keys.add(key('new', 1000), new Date(base + HOUR))
        await store.keys.remove('new', new Date(base + 2 * HOUR))
        t.same(await store.keys.list(new Date(base + 2 * HOUR)), [], 'the expired key stays expired')
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

    await t.test('ssf streams', async (t) => {
      const base = Date.now() + HOUR
      const at = (offsetMs = 0): Date => new Date(base + offsetMs)
      const newStream = (clientId = 'c1', streamId: string = randomUUID()): NewSsfStream => ({
        streamId,
        clientId,
        audience: clientId,
        description: 'orders',
        eventsRequested: ['urn:a', 'urn:b'],
        eventsDelivered: ['urn:a'],
        method: 'push',
        endpointUrl: 'https://receiver.example.com/events',
        authorizationHeader: 'sealed-header'
      })
      const event = (id: string = randomUUID()): NewSsfEvent => ({
        id, txn: 'txn-1', type: 'urn:a', streamId: null, subject: { format: 'opaque', id: 's' }, payload: { n: 1 }
      })

      await withStore(t, 'create returns an enabled stream starting at the outbox\'s last seq, find and list return it', async (t, store) => {
        const empty = await store.ssfStreams.create(newStream('c1', 'first'), 5, at())
        t.equal(empty?.cursor, 0, 'an empty outbox: cursor 0')
        await store.ssfEvents.append([event(), event()], at())
        const created = await store.ssfStreams.create(newStream('c1', 'second'), 5, at(1))
        t.ok(created !== null)
        if (created === null) return
        t.equal(created.cursor, await store.ssfEvents.lastSeq(), 'cursor = the last seq: only later events are for it')
        t.match(created, {
          streamId: 'second',
          clientId: 'c1',
          audience: 'c1',
          description: 'orders',
          eventsRequested: ['urn:a', 'urn:b'],
          eventsDelivered: ['urn:a'],
          method: 'push',
          endpointUrl: 'https://receiver.example.com/events',
          authorizationHeader: 'sealed-header',
          status: 'enabled',
          statusReason: null,
          acked: [],
          version: 1,
          leaseOwner: null,
          leaseUntil: null,
          verificationRequestedAt: null
        })
        t.equal(created.createdAt.getTime(), at(1).getTime())
        t.same(await store.ssfStreams.find('second'), created, 'find returns what create returned')
        t.equal(await store.ssfStreams.find('nope'), null)
        await store.ssfStreams.create(newStream('c2', 'other'), 5, at(2))
        t.same((await store.ssfStreams.listForClient('c1')).map((s) => s.streamId), ['first', 'second'], 'a client\'s own, oldest first')
        t.same((await store.ssfStreams.listForClient('c3')), [])
        const err = await store.ssfStreams.create(newStream('c1', 'second'), 5, at()).then(() => undefined, (e: unknown) => e)
        t.equal((err as AppError | undefined)?.code, 'conflict', 'a duplicate id is a conflict')
      })

      await withStore(t, 'create refuses past maxPerClient, also when the creates race', async (t, store) => {
        t.ok(await store.ssfStreams.create(newStream('c1'), 2, at()))
        t.ok(await store.ssfStreams.create(newStream('c1'), 2, at()))
        t.equal(await store.ssfStreams.create(newStream('c1'), 2, at()), null, 'the third is refused')
        t.ok(await store.ssfStreams.create(newStream('c2'), 2, at()), 'another client has its own places')
        const racing = await Promise.all(Array.from({ length: 8 }, async () => store.ssfStreams.create(newStream('c3'), 3, at())))
        t.ok(racing.filter((r) => r !== null).length <= 3, 'never more than the limit')
        t.ok((await store.ssfStreams.listForClient('c3')).length <= 3, 'and the store holds no more')
      })

      await withStore(t, 'update is a compare-and-set on the version', async (t, store) => {
        const created = await store.ssfStreams.create(newStream(), 5, at())
        if (created === null) { t.fail('not created'); return }
        const updated = await store.ssfStreams.update(created.streamId, created.version, {
          description: null,
          status: 'paused',
          statusReason: 'maintenance',
          acked: [3, 5],
          cursor: 2,
          verificationRequestedAt: at(5),
          endpointUrl: 'https://elsewhere.example.com/',
          authorizationHeader: null
        }, at(10))
        t.match(updated, {
          description: null,
          status: 'paused',
          statusReason: 'maintenance',
          acked: [3, 5],
          cursor: 2,
          endpointUrl: 'https://elsewhere.example.com/',
          authorizationHeader: null,
          version: created.version + 1,
          eventsRequested: ['urn:a', 'urn:b'],
          method: 'push'
        })
        t.equal(updated?.verificationRequestedAt?.getTime(), at(5).getTime())
        t.equal(updated?.updatedAt.getTime(), at(10).getTime())
        t.same(await store.ssfStreams.find(created.streamId), updated)
        t.equal(await store.ssfStreams.update(created.streamId, created.version, { status: 'disabled' }, at()), null,
          'a stale version changes nothing')
        t.equal((await store.ssfStreams.find(created.streamId))?.status, 'paused')
        t.equal(await store.ssfStreams.update('nope', 1, { status: 'disabled' }, at()), null, 'unknown: null')
        const fresh = await store.ssfStreams.find(created.streamId)
        const racing = await Promise.all(Array.from({ length: 6 }, async (_, i) =>
          store.ssfStreams.update(created.streamId, fresh!.version, { statusReason: `r${i}` }, at())))
        t.equal(racing.filter((r) => r !== null).length, 1, 'of concurrent updates from one version, one wins')
      })

      await withStore(t, 'listActive leaves disabled streams out; delete removes', async (t, store) => {
        const a = await store.ssfStreams.create(newStream('c1', 'a'), 5, at())
        await store.ssfStreams.create(newStream('c2', 'b'), 5, at(1))
        await store.ssfStreams.update('a', a!.version, { status: 'disabled' }, at())
        t.same((await store.ssfStreams.listActive()).map((s) => s.streamId), ['b'])
        t.equal(await store.ssfStreams.delete('b'), true)
        t.equal(await store.ssfStreams.delete('b'), false, 'twice: false')
        t.equal(await store.ssfStreams.find('b'), null)
      })

      await withStore(t, 'the lease: one holder at a time until it expires; only the holder advances the cursor', async (t, store) => {
        const created = await store.ssfStreams.create(newStream('c1', 's'), 5, at())
        if (created === null) { t.fail('not created'); return }
        const held = await store.ssfStreams.takeLease('s', 'A', at(), at(30_000))
        t.equal(held?.leaseOwner, 'A')
        t.equal(held?.leaseUntil?.getTime(), at(30_000).getTime())
        t.equal(held?.version, created.version, 'a lease leaves the version alone')
        t.equal(await store.ssfStreams.takeLease('s', 'B', at(29_999), at(60_000)), null, 'B waits while A holds it')
        t.ok(await store.ssfStreams.takeLease('s', 'A', at(10_000), at(40_000)), 'A renews')
        t.equal(await store.ssfStreams.advance('s', 'B', 0, 5, at()), false, 'B cannot advance')
        t.equal(await store.ssfStreams.advance('s', 'A', 1, 5, at()), false, 'nor A from a cursor that is not the stream\'s')
        t.equal(await store.ssfStreams.advance('s', 'A', 0, 5, at()), true, 'A advances')
        const moved = await store.ssfStreams.find('s')
        t.equal(moved?.cursor, 5)
        t.equal(moved?.version, created.version + 1, 'advancing bumps the version')
        t.equal(await store.ssfStreams.takeLease('s', 'B', at(40_000), at(70_000)) !== null, true, 'B takes an expired lease')
        t.equal(await store.ssfStreams.advance('s', 'A', 5, 6, at()), false, 'A lost it')
        await store.ssfStreams.releaseLease('s', 'A')
        t.equal((await store.ssfStreams.find('s'))?.leaseOwner, 'B', 'releasing a lease A no longer holds does nothing')
        await store.ssfStreams.releaseLease('s', 'B')
        t.equal((await store.ssfStreams.find('s'))?.leaseOwner, null)
        t.ok(await store.ssfStreams.takeLease('s', 'C', at(), at(1000)), 'a released lease is free at once')
        const racing = await Promise.all(['D', 'E', 'F', 'G'].map(async (owner) => store.ssfStreams.takeLease('s', owner, at(2000), at(9000))))
        t.equal(racing.filter((r) => r !== null).length, 1, 'of concurrent takers of an expired lease, one wins')
        t.equal(await store.ssfStreams.takeLease('nope', 'A', at(), at(1)), null, 'unknown: null')
      })
    })

    await t.test('ssf events (the outbox)', async (t) => {
      const base = Date.now() + HOUR
      const at = (offsetMs = 0): Date => new Date(base + offsetMs)
      const event = (id: string, streamId: string | null = null): NewSsfEvent => ({
        id, txn: `txn-${id}`, type: 'urn:a', streamId, subject: { format: 'complex', user: { format: 'iss_sub', iss: 'i', sub: id } }, payload: { reason: { en: id } }
      })
      const stream = (streamId: string): NewSsfStream => ({
        streamId, clientId: 'c', audience: 'c', description: null, eventsRequested: [], eventsDelivered: [], method: 'poll', endpointUrl: null, authorizationHeader: null
      })

      await withStore(t, 'append numbers a batch in order; since reads it back; lastSeq follows', async (t, store) => {
        t.equal(await store.ssfEvents.lastSeq(), 0)
        t.same(await store.ssfEvents.append([], at()), [], 'an empty batch writes nothing')
        const batch = await store.ssfEvents.append([event('a'), event('b', 'stream-1')], at())
        t.same(batch.map((e) => e.id), ['a', 'b'])
        t.ok(batch[1]!.seq > batch[0]!.seq, 'increasing seqs')
        t.match(batch[1], { txn: 'txn-b', type: 'urn:a', streamId: 'stream-1', subject: { user: { sub: 'b' } }, payload: { reason: { en: 'b' } } })
        t.equal(batch[0]!.createdAt.getTime(), at().getTime())
        const more = await store.ssfEvents.append([event('c')], at(1))
        t.equal(await store.ssfEvents.lastSeq(), more[0]!.seq)
        t.same((await store.ssfEvents.since(0, 10)).map((e) => e.id), ['a', 'b', 'c'])
        t.same((await store.ssfEvents.since(batch[0]!.seq, 1)).map((e) => e.id), ['b'], 'after a seq, at most limit')
        t.same(await store.ssfEvents.since(0, 0), [])
        t.same(await store.ssfEvents.since(0, 10), [...batch, ...more], 'the records are what append returned')
        const read = await store.ssfEvents.since(0, 1)
        ;(read[0]!.subject as { user: { sub: string } }).user.sub = 'changed'
        t.equal(((await store.ssfEvents.since(0, 1))[0]!.subject as { user: { sub: string } }).user.sub, 'a', 'records are copies')
      })

      await withStore(t, 'prune: past the retention, and what every stream that is not disabled has passed', async (t, store) => {
        const old = await store.ssfEvents.append([event('old')], at(-10_000))
        const s = await store.ssfStreams.create(stream('s'), 5, at())
        const newer = await store.ssfEvents.append([event('x'), event('y')], at())
        t.equal(await store.ssfEvents.prune(at(-5000)), 1, 'the event older than the retention goes')
        t.same((await store.ssfEvents.since(0, 10)).map((e) => e.id), ['x', 'y'])
        await store.ssfStreams.update('s', s!.version, { cursor: newer[0]!.seq }, at())
        t.equal(await store.ssfEvents.prune(at(-5000)), 1, 'x: every stream has passed it')
        const disabled = await store.ssfStreams.create(stream('d'), 5, at())
        await store.ssfStreams.update('d', disabled!.version, { status: 'disabled', cursor: 0 }, at())
        t.equal(await store.ssfEvents.prune(at(-5000)), 0, 'y waits for s; a disabled stream holds nothing back')
        t.same((await store.ssfEvents.since(0, 10)).map((e) => e.id), ['y'])
        await store.ssfStreams.delete('s')
        t.equal(await store.ssfEvents.prune(at(-5000)), 1, 'with no stream left to deliver to, everything goes')
        t.equal(await store.ssfEvents.lastSeq(), newer[1]!.seq, 'the numbering goes on from where it was')
        t.ok(old[0]!.seq < newer[0]!.seq)
        const after = await store.ssfEvents.append([event('z')], at())
        t.ok(after[0]!.seq > newer[1]!.seq, 'a seq is never handed out twice')
      })

      // A batch numbered but not yet stored while a later one is: a reader
      // polling by seq passes its numbers; once the late batch is stored it must
      // still reach that reader (stored again above the cursor, with the same ids).
      {
        const held = gate()
        let numbered: () => void = () => {}
        const lateNumbered = new Promise<void>((resolve) => { numbered = resolve })
        let first = true
        const hooks: StoreHooks = {
          ssfEventsNumbered: async () => {
            if (!first) return
            first = false
            numbered()
            await held.wait()
          }
        }
        await withStore(t, 'a batch stored late still reaches a reader whose cursor passed its numbers', async (t, store) => {
          const late = store.ssfEvents.append([event('late')], at())
          await lateNumbered
          await store.ssfEvents.append([event('early')], at())
          const seen = await store.ssfEvents.since(0, 100)
          const cursor = Math.max(0, ...seen.map((e) => e.seq))
          await new Promise((resolve) => setTimeout(resolve, REVOCATION_LATE_MS + 100))
          held.open()
          const records = await late
          t.equal(records[0]?.id, 'late')
          const later = await store.ssfEvents.since(cursor, 100)
          t.ok([...seen, ...later].some((e) => e.id === 'late'), 'the late event is read, before or after the cursor')
        }, hooks)
      }
    })
  })
}
