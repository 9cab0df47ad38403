// The revocation feed without HTTP: bounded pages, holes in the sequence, waits.
import t from 'tap'
import { RevocationFollower, RevocationList } from '../../src/revocation/revocation-list.js'
import { RevocationFeed, SEQUENCE_HOLE_GRACE_MS } from '../../src/revocation/revocation-feed.js'
import type { RevocationRecord, RevocationStore } from '../../src/store/types.js'

/** A log whose entries the test writes with any seq, like a store with concurrent writers. */
function fakeStore (): RevocationStore & { entries: RevocationRecord[], prunedThrough: number } {
  const entries: RevocationRecord[] = []
  return {
    entries,
    prunedThrough: 0,
    async add () { throw new Error('not used') },
    async addMany () { throw new Error('not used') },
    async since (after, now, limit) {
      return entries.filter((e) => e.seq > after && e.expiresAt > now).sort((a, b) => a.seq - b.seq).slice(0, limit)
    },
    async bounds () { return { prunedThrough: this.prunedThrough, lastSeq: Math.max(this.prunedThrough, ...entries.map((e) => e.seq)) } }
  }
}

function entry (seq: number, createdAt: number, expiresAt = Date.now() + 60_000): RevocationRecord {
  return { seq, kind: 'jti', value: `jti-${seq}`, expiresAt: new Date(expiresAt), createdAt: new Date(createdAt), issuedBefore: null, exceptSid: null }
}

function setup (pageSize = 1000): { store: ReturnType<typeof fakeStore>, feed: RevocationFeed, follower: RevocationFollower } {
  const store = fakeStore()
  const follower = new RevocationFollower(new RevocationList(), store, { intervalMs: 1000 })
  return { store, follower, feed: new RevocationFeed({ store, follower, pageSize }) }
}

t.test('pages are bounded and the cursor walks through the log', async (t) => {
  const { store, feed } = setup(2)
  const old = Date.now() - 60_000
  for (let seq = 1; seq <= 5; seq++) store.entries.push(entry(seq, old))
  const seen: number[] = []
  let cursor = 0
  for (let i = 0; i < 5; i++) {
    const page = await feed.read(cursor)
    t.ok(page.entries.length <= 2)
    seen.push(...page.entries.map((e) => e.seq))
    if (page.next_cursor === cursor) break
    cursor = page.next_cursor
  }
  t.same(seen, [1, 2, 3, 4, 5])
  t.equal(cursor, 5)
})

t.test('expired entries are left out but the cursor passes them', async (t) => {
  const { store, feed } = setup()
  const old = Date.now() - 60_000
  store.entries.push(entry(1, old, Date.now() - 1000), entry(2, old))
  const page = await feed.read(0)
  t.same(page.entries.map((e) => e.seq), [2])
  t.equal(page.next_cursor, 2)
})

t.test('the feed stops before a young hole and passes an old one', async (t) => {
  const { store, feed } = setup()
  const now = Date.now()
  store.entries.push(entry(1, now - 60_000), entry(3, now))
  const page = await feed.read(0)
  t.same(page.entries.map((e) => e.seq), [1], 'entry 3 waits: 2 may be written but not visible yet')
  t.equal(page.next_cursor, 1)

  store.entries.push(entry(2, now))
  const filled = await feed.read(1)
  t.same(filled.entries.map((e) => e.seq), [2, 3], 'once 2 is visible both come, in order')

  const { store: other, feed: otherFeed } = setup()
  other.entries.push(entry(1, now - 60_000), entry(3, now - SEQUENCE_HOLE_GRACE_MS - 10))
  t.same((await otherFeed.read(0)).entries.map((e) => e.seq), [1, 3], 'an old hole is an entry that is gone')
})

// A reader behind the watermark (a verifier starting at 0 on a pruned log) gets
// a snapshot. Entry 6 is numbered but not visible yet while 7 is: the snapshot's
// cursor must stop before 6, or the reader would never receive it.
t.test('a resync snapshot stops its cursor before a young hole', async (t) => {
  const { store, feed } = setup()
  const now = Date.now()
  store.prunedThrough = 4
  store.entries.push(entry(3, now - 60_000), entry(5, now - 60_000), entry(7, now))
  const snapshot = await feed.read(0)
  t.equal(snapshot.resync, true)
  t.same(snapshot.entries.map((e) => e.seq), [3, 5, 7], 'every live entry, the one below the watermark too')
  t.equal(snapshot.next_cursor, 5, 'the cursor stops at the young hole, not at 7')

  store.entries.push(entry(6, now))
  const next = await feed.read(snapshot.next_cursor)
  t.equal(next.resync, false)
  t.same(next.entries.map((e) => e.seq), [6, 7], 'the late entry reaches the reader')

  const { store: old, feed: oldFeed } = setup()
  old.prunedThrough = 4
  old.entries.push(entry(5, now - 60_000), entry(7, now - SEQUENCE_HOLE_GRACE_MS - 10))
  t.equal((await oldFeed.read(0)).next_cursor, 7, 'an old hole is passed, as on any read')
  const { store: empty, feed: emptyFeed } = setup()
  empty.prunedThrough = 9
  t.same(await emptyFeed.read(0), { resync: true, entries: [], next_cursor: 9 }, 'an emptied log resyncs to the watermark')
})

t.test('a waiting read is woken by the follower and retries a young hole', async (t) => {
  const { store, feed, follower } = setup()
  const waiting = feed.read(0, 10_000)
  await new Promise((resolve) => setTimeout(resolve, 50))
  store.entries.push(entry(1, Date.now()))
  await follower.syncOnce()
  t.same((await waiting).entries.map((e) => e.seq), [1], 'the sync that found entry 1 woke the read')

  store.entries.push(entry(3, Date.now()))
  const started = Date.now()
  const held = await feed.read(1, 10_000)
  t.same(held.entries.map((e) => e.seq), [3], 'after the grace the hole is passed')
  t.ok(Date.now() - started >= SEQUENCE_HOLE_GRACE_MS - 50, 'not before the grace')
  t.ok(Date.now() - started < 5000, 'and not at the end of the wait')
})

t.test('close ends every wait', async (t) => {
  const { feed } = setup()
  const waiting = feed.read(0, 30_000)
  feed.close()
  t.same(await waiting, { resync: false, entries: [], next_cursor: 0 })
})

t.test('an injected clock decides what has expired; a wait is real time even when that clock stands still', async (t) => {
  const store = fakeStore()
  const follower = new RevocationFollower(new RevocationList(), store, { intervalMs: 1000 })
  const frozen = Date.now() + 2 * 3_600_000
  const feed = new RevocationFeed({ store, follower, now: () => frozen })
  const old = Date.now() - 60_000
  store.entries.push(entry(1, old, Date.now() + 3_600_000), entry(2, old, frozen + 1000))
  const page = await feed.read(0)
  t.same(page.entries.map((e) => e.seq), [2], 'expired by the injected clock, though not by the system one')
  t.equal(page.next_cursor, 2)

  const started = Date.now()
  const bounded = new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), 5000).unref())
  const waited = await Promise.race([feed.read(2, 300), bounded])
  t.same(waited, { resync: false, entries: [], next_cursor: 2 }, 'the wait ended')
  t.ok(Date.now() - started >= 250, 'after the wait asked for')
})
