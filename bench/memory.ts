// Bytes of heap per revoked jti held by the in-memory revocation list. Run
// with --expose-gc (bench/run.ts does). Values are fresh strings, as they come
// from the store, with expiries spread over an access-token lifetime.
import { randomBytes } from 'node:crypto'
import { RevocationList } from '../src/revocation/revocation-list.js'

const count = Number(process.argv[2] ?? 200_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')

const values = (): string => randomBytes(16).toString('base64url')
gc(); gc()
const before = process.memoryUsage().heapUsed
const list = new RevocationList()
const base = Date.now()
for (let i = 0; i < count; i++) {
  list.apply({ kind: 'jti', value: values(), expiresAt: new Date(base + 60_000 + (i % 900) * 1000) })
}
gc(); gc()
const after = process.memoryUsage().heapUsed
process.stdout.write(JSON.stringify({ count: list.jtiCount, bytesPerJti: (after - before) / count }) + '\n')
