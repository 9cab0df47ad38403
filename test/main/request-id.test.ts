// Request ids: a well-formed X-Request-Id is kept, anything else is replaced by
// a random version-4 UUID drawn from the generator's own pool of random bytes.
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { requestIdGenerator, uuidGenerator } from '../../src/main/request-id.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('UUIDs: version 4 in form, and unique across several refills of the pool', async (t) => {
  const uuid = uuidGenerator()
  const seen = new Set<string>()
  const n = 20_000 // the pool holds 4,096 ids: four refills and more
  let malformed = 0
  for (let i = 0; i < n; i++) {
    const id = uuid()
    if (!UUID_V4.test(id)) malformed += 1
    seen.add(id)
  }
  t.equal(malformed, 0, 'every id is a version-4 UUID')
  t.equal(seen.size, n, 'no id repeats')
  // Random, not a counter: each of the 30 freely random hex digits takes many values.
  const firstDigits = new Set([...seen].slice(0, 1000).map((id) => id[0]))
  t.equal(firstDigits.size, 16, 'the first digit takes all 16 values')
})

t.test('two generators draw different ids', async (t) => {
  const a = uuidGenerator()
  const b = uuidGenerator()
  const fromA = new Set(Array.from({ length: 1000 }, a))
  t.notOk(Array.from({ length: 1000 }, b).some((id) => fromA.has(id)))
})

t.test('genReqId: a well-formed incoming id is kept, anything else replaced', async (t) => {
  const genReqId = requestIdGenerator()
  const req = (id?: string | string[]): IncomingMessage => ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as unknown as IncomingMessage
  t.equal(genReqId(req('lb-4f2a.91:7')), 'lb-4f2a.91:7')
  t.equal(genReqId(req('a'.repeat(128))), 'a'.repeat(128), '128 characters are accepted')
  for (const bad of ['', 'a'.repeat(129), 'x y', 'x"}{"level":60', 'line\nbreak', ['a', 'b']]) {
    t.match(genReqId(req(bad)), UUID_V4, `${JSON.stringify(bad).slice(0, 20)} is replaced`)
  }
  t.match(genReqId(req()), UUID_V4, 'none sent: a UUID')
})
