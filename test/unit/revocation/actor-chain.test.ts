// A disabled client's entry refuses the tokens whose `act` chain names it
// (tokens exchanged from tokens it obtained by exchange), at any depth, as the
// service and every verifier that follows the feed apply it.
import t from 'tap'
import { RevocationList } from '../../../src/revocation/revocation-list.js'

const NOW = 1_800_000_000
const disabled = (value: string, at: number) => ({ kind: 'client' as const, value, expiresAt: new Date((at + 900) * 1000), createdAt: new Date(at * 1000) })

t.test('an actor anywhere in the chain, disabled, refuses the token issued before its disable', async (t) => {
  const list = new RevocationList()
  const chain = { sub: 'billing', act: { sub: 'gateway', act: { sub: 'edge' } } }
  t.notOk(list.isRevoked('j', 's', 'billing', NOW, 'u', chain), 'nothing disabled yet')
  list.apply(disabled('gateway', NOW + 10))
  t.ok(list.isRevoked('j', 's', 'billing', NOW, 'u', chain), 'the middle actor')
  t.ok(list.isRevoked('j', 's', 'billing', NOW, 'u', { sub: 'billing', act: { sub: 'gateway' } }), 'the last actor')
  t.notOk(list.isRevoked('j', 's', 'billing', NOW, 'u', { sub: 'billing', act: { sub: 'other' } }), 'a chain without it')
  t.notOk(list.isRevoked('j', 's', 'billing', NOW, 'u'), 'no chain')
  t.notOk(list.isRevoked('j', 's', 'billing', NOW + 3600, 'u', chain), 'issued after the disable (and its margin): the client was enabled again')
  list.apply(disabled('edge', NOW + 10))
  t.ok(list.isRevoked('j', 's', 'billing', NOW, 'u', { sub: 'billing', act: { sub: 'x', act: { sub: 'edge' } } }), 'the first actor of a deep chain')
})
