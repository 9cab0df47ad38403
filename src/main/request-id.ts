// Request ids: a well-formed incoming X-Request-Id is kept (a gateway's id
// then follows the request through our log), anything else is replaced by a
// random UUID (version 4).
//
// The UUIDs come from one pool of random bytes refilled 4,096 ids at a time
// by `randomFillSync`, the source `crypto.randomUUID()` uses. Node's own
// generator refills every 128 ids, and on the hot routes, where an id is made
// for every answer, those refills were the largest cost left outside
// Fastify. The ids stay random (not a counter): they reveal nothing about
// how many requests an instance has served.
import { randomFillSync } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** Ids accepted from X-Request-Id: they reach log lines and answers, so nothing that could forge or break either. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const IDS_PER_FILL = 4096

/** A generator of random version-4 UUIDs, drawing its bytes from a pool of its own. */
export function uuidGenerator (): () => string {
  const pool = Buffer.allocUnsafe(IDS_PER_FILL * 16)
  let offset = pool.length
  return function uuid (): string {
    if (offset === pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const b = pool
    const o = offset
    offset += 16
    return HEX[b[o]!]! + HEX[b[o + 1]!]! + HEX[b[o + 2]!]! + HEX[b[o + 3]!]! + '-' +
      HEX[b[o + 4]!]! + HEX[b[o + 5]!]! + '-' +
      HEX[(b[o + 6]! & 0x0f) | 0x40]! + HEX[b[o + 7]!]! + '-' +
      HEX[(b[o + 8]! & 0x3f) | 0x80]! + HEX[b[o + 9]!]! + '-' +
      HEX[b[o + 10]!]! + HEX[b[o + 11]!]! + HEX[b[o + 12]!]! + HEX[b[o + 13]!]! + HEX[b[o + 14]!]! + HEX[b[o + 15]!]!
  }
}

/** Fastify's `genReqId`: the incoming X-Request-Id when well formed, else a fresh UUID. */
export function requestIdGenerator (): (req: IncomingMessage) => string {
  const uuid = uuidGenerator()
  return (req) => {
    const incoming = req.headers['x-request-id']
    return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuid()
  }
}
