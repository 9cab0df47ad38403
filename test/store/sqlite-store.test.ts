// The storage contract against SQLite, on a file and in memory; then what only
// the SQLite store has: several connections (as several processes) on one file,
// durability across reopen, the schema version and migrations, the sweep and
// the revocation watermark, backup, and errors mapped to store_unavailable.
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { AppError, StoreUnavailableError } from '../../src/errors.js'
import { migrate, MIGRATIONS, SqliteStore } from '../../src/store/sqlite-store.js'
import type { ClientRecord } from '../../src/store/types.js'
import { build, registerUser } from '../helper.js'
import { memoryStore, scratchDir } from '../support/stores.js'
import { storeContract } from './contract.js'

const HOUR = 3_600_000

await storeContract(t, 'sqlite (file)', async (options) => {
  const dir = scratchDir(t)
  const store = new SqliteStore(join(dir, `contract-${Math.random().toString(36).slice(2)}.sqlite`), options)
  await store.init()
  return { store, cleanup: async () => { await store.close() } }
})

await storeContract(t, 'sqlite (:memory:)', async (options) => {
  const store = memoryStore(options)
  await store.init()
  return { store, cleanup: async () => { await store.close() } }
})

/** Two stores on one file: what two processes sharing the database see. */
function pair (t: Test, options = {}): { a: SqliteStore, b: SqliteStore, file: string } {
  const file = join(scratchDir(t), 'shared.sqlite')
  const a = new SqliteStore(file, options)
  const b = new SqliteStore(file, options)
  t.teardown(async () => { await a.close(); await b.close() })
  return { a, b, file }
}

const failure = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e)

t.test('the file is in WAL mode with synchronous=FULL and a busy timeout', async (t) => {
  const { file } = pair(t)
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  // synchronous and busy_timeout are per connection: read them through the store's own.
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  const own = (store as unknown as { db: Database.Database }).db
  t.equal(own.pragma('synchronous', { simple: true }), 2, 'FULL')
  t.equal(own.pragma('busy_timeout', { simple: true }), 5000)
})

t.test('what one connection wrote is there after close and reopen', async (t) => {
  const { a, file } = pair(t)
  const user = await a.users.create({ username: 'Durable', passwordHash: 'h', roles: ['admin'] })
  const rev = await a.revocations.add({ kind: 'sid', value: 's1', expiresAt: new Date(Date.now() + HOUR) })
  await a.close()
  const again = new SqliteStore(file)
  t.teardown(() => again.close())
  t.same(await again.users.findByUsername('durable'), user)
  t.same(await again.revocations.since(0, new Date(), 10), [rev])
})

t.test('two connections on one file: unique usernames, one rotation, one lock, one revocation log', async (t) => {
  const { a, b } = pair(t)
  await a.users.create({ username: 'shared', passwordHash: 'h' })
  const dup = await failure(b.users.create({ username: 'SHARED', passwordHash: 'x' }))
  t.equal((dup as AppError).code, 'username_taken', 'the other connection is refused by the constraint')
  const user = await b.users.findByUsername('shared')
  t.ok(user !== null, 'seen by the other connection')

  const now = new Date()
  await a.sessions.create({
    sid: 's',
    userId: user!.id,
    clientId: 'c',
    currentJti: 'j0',
    createdAt: now,
    expiresAt: new Date(now.getTime() + HOUR),
    absoluteExpiresAt: new Date(now.getTime() + 2 * HOUR)
  })
  const rotation = (next: string) => ({ nextJti: next, expiresAt: new Date(now.getTime() + HOUR), previous: { jti: 'j0', rotatedAt: now, successor: null } })
  const results = await Promise.all([a.sessions.rotate('s', 'j0', rotation('ja')), b.sessions.rotate('s', 'j0', rotation('jb'))])
  t.equal(results.filter((r) => r !== null).length, 1, 'exactly one rotation wins')
  t.equal((await b.sessions.find('s'))?.currentJti, results[0]?.currentJti ?? results[1]?.currentJti)

  const policy = { threshold: 3, lockSeconds: 60, now: new Date(now.getTime() + HOUR) }
  const attempts = []
  for (let i = 0; i < 6; i++) attempts.push(await (i % 2 === 0 ? a : b).users.beginLoginAttempt(user!.id, policy))
  t.same(attempts.map((l) => l === null), [true, true, true, false, false, false],
    'attempts counted across connections: 3 admitted at threshold 3, then both refuse')

  const first = await a.revocations.add({ kind: 'jti', value: 'x', expiresAt: new Date(now.getTime() + HOUR) })
  const second = await b.revocations.add({ kind: 'jti', value: 'y', expiresAt: new Date(now.getTime() + HOUR) })
  t.ok(second.seq > first.seq, 'one sequence across connections')
  t.same((await b.revocations.since(0, now, 10)).map((r) => r.value), ['x', 'y'])
  t.same((await a.revocations.since(first.seq, now, 10)).map((r) => r.value), ['y'], 'a follower reads on by seq')
})

t.test('sequence numbers are never reused, even after the sweep deleted the newest entries', async (t) => {
  const { a, file } = pair(t)
  const now = Date.now()
  const old = await a.revocations.add({ kind: 'jti', value: 'old', expiresAt: new Date(now + 1000) })
  t.equal(await a.sweep(new Date(now + 2000)), 1, 'the expired entry is swept')
  await a.close()
  const reopened = new SqliteStore(file)
  t.teardown(() => reopened.close())
  const next = await reopened.revocations.add({ kind: 'jti', value: 'new', expiresAt: new Date(now + HOUR) })
  t.ok(next.seq > old.seq, `seq ${next.seq} > ${old.seq}`)
})

t.test('the sweep deletes expired sessions, revocations and retired keys, and nothing live', async (t) => {
  const store = memoryStore()
  const now = Date.now()
  const session = (sid: string, expires: number, absolute = now + 10 * HOUR) => store.sessions.create({
    sid, userId: 'u', clientId: 'c', currentJti: sid, createdAt: new Date(now), expiresAt: new Date(expires), absoluteExpiresAt: new Date(absolute)
  })
  await session('idle-expired', now - 1)
  await session('absolute-expired', now + HOUR, now - 1)
  await session('live', now + HOUR)
  await store.revocations.add({ kind: 'jti', value: 'gone', expiresAt: new Date(now - 1) })
  const kept = await store.revocations.add({ kind: 'jti', value: 'kept', expiresAt: new Date(now + HOUR) })
  const key = (kid: string, activatesAt: number) => ({ kid, alg: 'ES256' as const, publicKey: 'p', privateKey: 's', activatesAt: new Date(activatesAt) })
  await store.keys.add(key('retired', now - 2 * HOUR), new Date(now + HOUR))
  await store.keys.add(key('newest', now - HOUR), new Date(now - 1)) // retires the other one, already past its expiry

  t.equal(await store.sweep(new Date(now)), 4)
  t.equal(await store.sessions.find('idle-expired'), null)
  t.equal(await store.sessions.find('absolute-expired'), null)
  t.ok(await store.sessions.find('live'))
  t.same((await store.revocations.since(0, new Date(0), 10)).map((r) => r.value), ['kept'])
  t.equal(kept.value, 'kept')
  t.same((await store.keys.list(new Date(0))).map((k) => k.kid), ['newest'], 'the newest key (no expiry) stays')
  await store.close()
})

t.test('init starts the periodic sweep; close stops it', async (t) => {
  const store = memoryStore({ sweepIntervalMs: 20 })
  await store.revocations.add({ kind: 'jti', value: 'soon', expiresAt: new Date(Date.now() + 30) })
  await store.init()
  await store.init()
  const deadline = Date.now() + 3000
  // since() with an old `now` still sees an expired entry until the sweep deletes it.
  while ((await store.revocations.since(0, new Date(0), 10)).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.same(await store.revocations.since(0, new Date(0), 10), [], 'swept without being asked')
  await store.close()
  await store.close()
  t.pass('close is idempotent')
})

t.test('schema: versioned, migrated once, a newer database is refused', async (t) => {
  const { a, file } = pair(t)
  t.equal(a.schemaVersion, MIGRATIONS.length)
  t.ok(MIGRATIONS.length >= 1)

  const db = new Database(file)
  t.teardown(() => db.close())
  const next = [...MIGRATIONS, 'CREATE TABLE extra (id INTEGER PRIMARY KEY)']
  migrate(db, next)
  migrate(db, next)
  t.equal(db.pragma('user_version', { simple: true }), next.length, 'the new step is applied')
  t.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'extra'").get() as { n: number }).n, 1, 'once')

  t.throws(() => new SqliteStore(file),
    new RegExp(`schema is version ${next.length}, newer than this code knows \\(${MIGRATIONS.length}\\)`))
  t.throws(() => migrate(db, MIGRATIONS), /newer than this code knows/)
})

t.test('the sweep raises the revocation watermark, and the watermark survives a reopen', async (t) => {
  const file = join(scratchDir(t), 'watermark.sqlite')
  const now = Date.now()
  const entry = (value: string, expires: number) => ({ kind: 'jti' as const, value, expiresAt: new Date(expires) })
  const store = new SqliteStore(file)
  const first = await store.revocations.add(entry('expired-1', now - 2))
  const second = await store.revocations.add(entry('expired-2', now - 1))
  const live = await store.revocations.add(entry('live', now + HOUR))
  t.same(await store.revocations.bounds(), { prunedThrough: 0, lastSeq: live.seq }, 'nothing swept yet')
  t.equal(await store.sweep(new Date(now)), 2, 'the watermark row is not counted as a deleted row')
  t.same(await store.revocations.bounds(), { prunedThrough: second.seq, lastSeq: live.seq }, 'the highest seq the sweep deleted')
  t.ok(first.seq < second.seq)
  t.equal(await store.sweep(new Date(now)), 0)
  t.same(await store.revocations.bounds(), { prunedThrough: second.seq, lastSeq: live.seq }, 'a sweep that deletes nothing keeps it')
  await store.close()

  const reopened = new SqliteStore(file)
  t.teardown(() => reopened.close())
  t.same(await reopened.revocations.bounds(), { prunedThrough: second.seq, lastSeq: live.seq }, 'kept across a restart')
  // The newest entry swept: lastSeq stays the highest seq ever handed out.
  await reopened.sweep(new Date(now + 2 * HOUR))
  t.same(await reopened.revocations.bounds(), { prunedThrough: live.seq, lastSeq: live.seq })
  const next = await reopened.revocations.add(entry('next', now + 3 * HOUR))
  t.equal(next.seq, live.seq + 1, 'numbers are never reused')
  t.same(await reopened.revocations.bounds(), { prunedThrough: live.seq, lastSeq: next.seq })
})

t.test('the watermark migration starts below the entries a version-1 database still holds', async (t) => {
  const dir = scratchDir(t)
  const v1 = (name: string, deleteThrough: number): string => {
    const file = join(dir, name)
    const db = new Database(file)
    migrate(db, MIGRATIONS.slice(0, 1))
    const insert = db.prepare("INSERT INTO revocations (kind, value, expires_at, created_at) VALUES ('jti', ?, 0, 0)")
    for (const value of ['a', 'b', 'c']) insert.run(value)
    db.prepare('DELETE FROM revocations WHERE seq <= ?').run(deleteThrough)
    db.close()
    return file
  }
  const partly = new SqliteStore(v1('partly-swept.sqlite', 2))
  t.teardown(() => partly.close())
  t.same(await partly.revocations.bounds(), { prunedThrough: 2, lastSeq: 3 }, 'just below the lowest entry left')
  const all = new SqliteStore(v1('all-swept.sqlite', 3))
  t.teardown(() => all.close())
  t.same(await all.revocations.bounds(), { prunedThrough: 3, lastSeq: 3 }, 'at the last seq when none is left')
  const none = new SqliteStore(v1('unswept.sqlite', 0))
  t.teardown(() => none.close())
  t.same(await none.revocations.bounds(), { prunedThrough: 0, lastSeq: 3 }, 'at 0 when nothing was deleted')
})

t.test('a public client (no secret) round-trips its NULL secret', async (t) => {
  const store = memoryStore()
  const input = {
    clientId: 'spa',
    name: 'SPA',
    secretHash: null as unknown as string,
    grants: ['refresh_token' as const],
    audiences: [],
    scopes: [],
    accessTokenTtl: null,
    refreshTokenTtl: null
  }
  await store.clients.create(input)
  const found = await store.clients.find('spa') as ClientRecord | null
  t.equal(found?.secretHash, null)
  await store.close()
})

t.test('backup is a consistent copy taken while writes go on', async (t) => {
  const { a, b } = pair(t)
  for (let i = 0; i < 50; i++) await a.users.create({ username: `user${i}`, passwordHash: 'h' })
  const destination = join(scratchDir(t), 'copy.sqlite')
  const writes = (async () => {
    for (let i = 50; i < 100; i++) await b.users.create({ username: `user${i}`, passwordHash: 'h' })
  })()
  await a.backup(destination)
  await writes
  t.ok(existsSync(destination))
  const copy = new SqliteStore(destination)
  t.teardown(() => copy.close())
  t.equal(copy.schemaVersion, MIGRATIONS.length)
  for (let i = 0; i < 50; i++) t.ok(await copy.users.findByUsername(`user${i}`), `user${i} is in the copy`)
  const err = await failure(memoryStore().backup('/nonexistent-dir/x.sqlite'))
  t.ok(err instanceof Error, 'a failed backup rejects')
})

t.test('the data folder, the database, its -wal and -shm files and backups are private to the service\'s user', async (t) => {
  const dir = join(scratchDir(t), 'data')
  const file = join(dir, 'tokens.sqlite')
  // The service's own path: the store plugin makes the folder and opens the file.
  const app = await build(t, { env: { SQLITE_PATH: file } })
  await registerUser(app)
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  const backup = join(scratchDir(t), 'copy.sqlite')
  await store.backup(backup)
  for (const path of [dir, file, `${file}-wal`, `${file}-shm`, backup]) t.ok(existsSync(path), `${path} exists`)
  if (process.platform === 'win32') {
    t.comment('POSIX modes are not checked on Windows')
    return
  }
  const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8)
  t.equal(mode(dir), '700', 'the folder the service created: 0700')
  for (const path of [file, `${file}-wal`, `${file}-shm`, backup]) t.equal(mode(path), '600', `${path}: 0600`)
  const exists = join(scratchDir(t), 'taken.sqlite')
  writeFileSync(exists, 'not a database')
  const taken = await failure(store.backup(exists))
  t.ok(taken instanceof AppError && taken.code === 'conflict', 'a backup never overwrites an existing file')
})

t.test('a database held locked past busy_timeout, or closed, is store_unavailable', async (t) => {
  const { a, file } = pair(t, { busyTimeoutMs: 50 })
  const other = new Database(file)
  t.teardown(() => { if (other.open) other.close() })
  other.exec('BEGIN IMMEDIATE')
  const now = new Date()
  const writes: Array<[string, () => Promise<unknown>]> = [
    ['users.create', () => a.users.create({ username: 'locked', passwordHash: 'h' })],
    ['users.beginLoginAttempt', () => a.users.beginLoginAttempt('id', { threshold: 3, lockSeconds: 60, now })],
    ['sessions.revoke', () => a.sessions.revoke('sid', 'logout', now)],
    ['revocations.add', () => a.revocations.add({ kind: 'jti', value: 'j', expiresAt: now })],
    ['keys.add', () => a.keys.add({ kid: 'k', alg: 'ES256', publicKey: 'p', privateKey: 's', activatesAt: now }, now)],
    ['sweep', () => a.sweep(now)]
  ]
  for (const [name, call] of writes) {
    const err = await failure(call())
    t.ok(err instanceof StoreUnavailableError, `${name}: StoreUnavailableError`)
    t.equal((err as AppError).message, 'the token store is unavailable, try again later', `${name}: no driver message`)
    t.match(((err as AppError).cause as { code?: string }).code, /^SQLITE_BUSY/, `${name}: the driver error is the cause`)
  }
  t.equal(await a.users.findByUsername('locked'), null, 'reads go on under a writer (WAL)')
  other.exec('ROLLBACK')
  t.ok(await a.users.create({ username: 'locked', passwordHash: 'h' }), 'writes resume once the lock is gone')

  const garbage = join(file, '..', 'not-a-database.sqlite')
  writeFileSync(garbage, 'this is not a database file, but long enough to have a header: '.repeat(20))
  t.throws(() => new SqliteStore(garbage), StoreUnavailableError, 'a file that is not a database')

  await a.close()
  for (const [name, call] of [
    ['ping', () => a.ping()],
    ['users.findById', () => a.users.findById('x')],
    ['clients.list', () => a.clients.list()]
  ] as Array<[string, () => Promise<unknown>]>) {
    t.ok(await failure(call()) instanceof StoreUnavailableError, `${name} after close: StoreUnavailableError`)
  }
  await t.resolves(a.init(), 'init on a closed store starts nothing')
})

t.test('a version-1 database migrates: its clients gain an empty previous secret', async (t) => {
  const file = join(scratchDir(t), 'v1.sqlite')
  const db = new Database(file)
  migrate(db, MIGRATIONS.slice(0, 1))
  db.prepare(`INSERT INTO clients (client_id, name, secret_hash, grants, audiences, scopes, access_token_ttl,
    refresh_token_ttl, disabled, created_at) VALUES ('old', 'Old', 'h', '["client_credentials"]', '[]', '[]', NULL, NULL, 0, 1)`).run()
  db.close()
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  t.equal(store.schemaVersion, MIGRATIONS.length)
  const client = await store.clients.find('old')
  t.equal(client?.secretHash, 'h')
  t.equal(client?.previousSecret, null)
  const rotated = await store.clients.setSecret('old', 'h2', { hash: 'h', expiresAt: new Date(Date.now() + 60_000) })
  t.equal(rotated?.previousSecret?.hash, 'h')
})

t.test('a version-6 database migrates to key revocations: every entry and the seq counter are kept', async (t) => {
  const file = join(scratchDir(t), 'v6.sqlite')
  const db = new Database(file)
  migrate(db, MIGRATIONS.slice(0, 6))
  const later = Date.now() + 3_600_000
  const add = db.prepare(`INSERT INTO revocations (kind, value, issued_before, except_sid, expires_at, created_at)
    VALUES (?, ?, ?, ?, ?, ?)`)
  add.run('jti', 'j1', null, null, later, 1)
  add.run('user', 'u1', 1_700_000_000, 's1', later, 2)
  add.run('sid', 'gone', null, null, later, 3)
  db.prepare("DELETE FROM revocations WHERE value = 'gone'").run()
  t.throws(() => add.run('key', 'k1', null, null, later, 4), /CHECK constraint failed/, 'version 6 knows no key kind')
  db.close()
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  t.equal(store.schemaVersion, MIGRATIONS.length)
  t.match(await store.revocations.since(0, new Date(), 10), [
    { seq: 1, kind: 'jti', value: 'j1' },
    { seq: 2, kind: 'user', value: 'u1', issuedBefore: 1_700_000_000, exceptSid: 's1' }
  ])
  const key = await store.revocations.add({ kind: 'key', value: 'k1', expiresAt: new Date(later) })
  t.equal(key.seq, 4, 'the number of the deleted entry is never handed out again')
})
