// Disabling a client with more live sessions than one revocation write holds:
// every session ends, each gets its sid revocation (in the store's log and in
// this instance's view), written in batches, none missed at a batch boundary.
import t from 'tap'
import { domain } from '../support/domain.js'

t.test('a client with 2,001 live sessions: every one is revoked by sid, in the log and in the view', async (t) => {
  const { clients, store, revocations, clock } = domain(t)
  const { client } = await clients.create({ name: 'busy', grants: ['password', 'refresh_token'] })
  const other = await clients.create({ name: 'quiet', grants: ['password', 'refresh_token'] })
  const user = await store.users.create({ username: 'alice', passwordHash: 'x' })
  const now = new Date(clock.now() * 1000)
  const expiresAt = new Date(now.getTime() + 3600_000)
  const absoluteExpiresAt = new Date(now.getTime() + 7200_000)
  const session = (sid: string, clientId: string) =>
    ({ sid, userId: user.id, clientId, currentJti: `jti-${sid}`, createdAt: now, expiresAt, absoluteExpiresAt })
  const sids = Array.from({ length: 2001 }, (_, i) => `sid-${String(i).padStart(4, '0')}`)
  for (const sid of sids) await store.sessions.create(session(sid, client.clientId))
  await store.sessions.create(session('other-sid', other.client.clientId))
  const before = (await store.revocations.bounds()).lastSeq

  await clients.disable(client.clientId)

  const log = await store.revocations.since(before, now, 10_000)
  const logged = log.filter((r) => r.kind === 'sid').map((r) => r.value).sort()
  t.same(logged, sids, 'one sid entry per session, boundaries 1,000 and 2,000 included')
  t.ok(log.some((r) => r.kind === 'client' && r.value === client.clientId), 'and the client entry')
  t.notOk(logged.includes('other-sid'), 'another client\'s session is untouched')
  t.same(sids.filter((sid) => !revocations.isSessionEnded(sid)), [], 'every sid is refused by this instance at once')
  t.notOk(revocations.isSessionEnded('other-sid'))
  const live = (await store.sessions.listForUser(user.id, now)).filter((s) => s.revokedAt === null).map((s) => s.sid)
  t.same(live, ['other-sid'], 'in the store only the other client\'s session is live')
})
