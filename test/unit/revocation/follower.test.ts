// The revocation follower without HTTP: what one instance writes to the store
// reaches another instance's in-memory view on its next tick.
import t from 'tap'
import { RevocationFollower, RevocationList } from '../../../src/revocation/revocation-list.js'
import { memoryStore } from '../../support/stores.js'

t.test('a revocation written by one follower is seen by another after a tick', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const nowSec = Math.floor(Date.now() / 1000)
  const mine = new RevocationList()
  const theirs = new RevocationList()
  const writer = new RevocationFollower(mine, store.revocations, { intervalMs: 100 })
  const reader = new RevocationFollower(theirs, store.revocations, { intervalMs: 100 })
  await reader.tick()
  const record = await store.revocations.add({ kind: 'sid', value: 'session-1', expiresAt: new Date((nowSec + 60) * 1000) })
  writer.applyLocal(record)
  t.ok(mine.isSessionEnded('session-1'), 'the writer sees it at once')
  t.notOk(theirs.isSessionEnded('session-1'), 'the reader not before its tick')
  await reader.tick()
  t.ok(theirs.isSessionEnded('session-1'), 'the reader after its tick')
  const client = await store.revocations.add({ kind: 'client', value: 'c1', expiresAt: new Date((nowSec + 60) * 1000) })
  t.ok(client)
  await reader.tick()
  t.ok(theirs.isClientDisabled('c1'))
})
