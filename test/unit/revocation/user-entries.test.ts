// User entries of the revocation view: every token of a user issued in an
// earlier second is refused, whatever its session, but the session an entry
// spares; several entries for one user combine.
import t from 'tap'
import { RevocationList } from '../../../src/revocation/revocation-list.js'

const NOW = 1_800_000_000
const entry = (value: string, issuedBefore: number, exceptSid: string | null = null, exp = NOW + 900) =>
  ({ kind: 'user' as const, value, expiresAt: new Date(exp * 1000), createdAt: new Date(issuedBefore * 1000), issuedBefore, exceptSid })

t.test('tokens issued before the cutoff second are refused, from its second on they pass', async (t) => {
  const list = new RevocationList()
  t.notOk(list.isRevoked('j', 's', 'c', NOW - 10, 'u1'), 'nothing revoked yet')
  list.apply(entry('u1', NOW))
  t.ok(list.isRevoked('j', 's', 'c', NOW - 1, 'u1'), 'a token of the second before')
  t.ok(list.isRevoked('j', undefined, 'c', NOW - 500, 'u1'), 'a token without a session (its row swept or none)')
  t.notOk(list.isRevoked('j', 's', 'c', NOW, 'u1'), 'a login in the same second passes')
  t.notOk(list.isRevoked('j', 's', 'c', NOW - 1, 'u2'), 'another user passes')
  t.notOk(list.isRevoked('j', 's', 'c', NOW - 1), 'no subject given: the entry cannot apply')
  t.equal(list.userCount, 1)
})

t.test('an entry that spares a session, beside one that spares none', async (t) => {
  const list = new RevocationList()
  list.apply(entry('u1', NOW, 'kept'))
  t.notOk(list.isRevoked('j', 'kept', 'c', NOW - 5, 'u1'), 'the password change keeps its own session')
  t.ok(list.isRevoked('j', 'other', 'c', NOW - 5, 'u1'), 'every other session of the user ends')
  list.apply(entry('u1', NOW + 60))
  t.ok(list.isRevoked('j', 'kept', 'c', NOW - 5, 'u1'), 'a later logout-all ends the kept session too')
  t.ok(list.isRevoked('j', 'kept', 'c', NOW + 30, 'u1'), 'also its tokens issued after the password change')
  t.notOk(list.isRevoked('j', 'kept', 'c', NOW + 60, 'u1'), 'but not those issued after the logout-all')
  list.apply(entry('u1', NOW + 30)) // an older entry arriving late: the later cutoff stays
  t.ok(list.isRevoked('j', 'x', 'c', NOW + 59, 'u1'))
})

t.test('entries are forgotten once every token they cover has expired; clear forgets all', async (t) => {
  const list = new RevocationList()
  list.apply(entry('u1', NOW, null, NOW + 100))
  list.apply(entry('u1', NOW, 'kept', NOW + 200))
  list.apply(entry('u2', NOW, null, NOW + 300))
  list.sweep(NOW + 150)
  t.ok(list.isRevoked('j', 'other', 'c', NOW - 1, 'u1'), 'the spare-one entry still applies')
  t.notOk(list.isRevoked('j', 'kept', 'c', NOW - 1, 'u1'), 'the merged one is gone')
  list.sweep(NOW + 250)
  t.equal(list.userCount, 1)
  list.clear()
  t.equal(list.userCount, 0)
  t.equal(list.size, 0)
})

t.test('an entry without its cutoff refuses every token of the user until it expires', async (t) => {
  const list = new RevocationList()
  list.apply({ kind: 'user', value: 'u1', expiresAt: new Date((NOW + 900) * 1000) })
  t.ok(list.isRevoked('j', 's', 'c', NOW + 100, 'u1'))
})
