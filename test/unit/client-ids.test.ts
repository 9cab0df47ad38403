// Generated client ids: 128 random bits in base64url, never starting with '-'
// (the CLI takes a client_id as an argument, where '-…' reads as an option).
import t from 'tap'
import { newClientId } from '../../src/clients/clients.js'

t.test('client ids are 22 base64url characters and never start with "-"', async (t) => {
  const ids = Array.from({ length: 5000 }, () => newClientId())
  t.ok(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id)), 'shape')
  t.equal(new Set(ids).size, ids.length, 'no repeats')
  // 5,000 draws: a leading '-' would show up about 78 times by chance without the rule.
  t.ok(ids.some((id) => id.includes('-')), 'the other positions still use "-"')
})
