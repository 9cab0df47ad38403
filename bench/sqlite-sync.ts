// What synchronous=FULL costs: login and refresh through the real app (in
// process, app.inject) on a SQLite file, with FULL and with NORMAL, in
// interleaved rounds so that drift hits both. Also the bare store writes a
// login (session insert) and a refresh (rotation) make. A benchmark, not a test.
//
// Run: npm run build && node dist/bench/sqlite-sync.js
// Knobs: BENCH_SQLITE_N (requests per kind per round, 200), BENCH_ROUNDS (3),
// BENCH_SQLITE_DIR (folder for the database files; default the system temp
// folder: it must be a real disk, not tmpfs, for fsync to mean anything).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import app from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { serverOptions } from '../src/server-options.js'
import { SqliteStore } from '../src/store/sqlite-store.js'

const N = Number(process.env.BENCH_SQLITE_N ?? 200)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MODES = ['FULL', 'NORMAL'] as const
type Mode = typeof MODES[number]

const env = {
  NODE_ENV: 'production',
  JWT_SECRET: 'bench-access-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
  REFRESH_TOKEN_SECRET: 'bench-refresh-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_AUTH: '1000000000'
}

const samples: Record<string, number[]> = {}
const record = (key: string, ms: number): void => { (samples[key] ??= []).push(ms) }

async function round (dir: string, mode: Mode): Promise<void> {
  const store = new SqliteStore(join(dir, `${mode}-${randomUUID()}.sqlite`), { synchronous: mode })
  const config = loadConfig(env)
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config, store })
  await fastify.ready()
  try {
    const username = `bench${randomUUID().slice(0, 8)}`
    const password = 'correct horse battery staple'
    await fastify.inject({ method: 'POST', url: '/auth/register', payload: { username, password } })
    let refresh = ''
    for (let i = 0; i < N; i++) {
      const start = process.hrtime.bigint()
      const res = await fastify.inject({ method: 'POST', url: '/auth/login', payload: { username, password } })
      record(`${mode} login`, Number(process.hrtime.bigint() - start) / 1e6)
      refresh = (res.json() as { refresh_token: string }).refresh_token
    }
    for (let i = 0; i < N; i++) {
      const start = process.hrtime.bigint()
      const res = await fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refresh } })
      record(`${mode} refresh`, Number(process.hrtime.bigint() - start) / 1e6)
      refresh = (res.json() as { refresh_token: string }).refresh_token
    }
    const now = Date.now()
    for (let i = 0; i < N; i++) {
      const sid = randomUUID()
      let start = process.hrtime.bigint()
      await store.sessions.create({
        sid, userId: 'u', clientId: 'c', currentJti: 'j0', createdAt: new Date(now), expiresAt: new Date(now + 3_600_000), absoluteExpiresAt: new Date(now + 7_200_000)
      })
      record(`${mode} store: session insert`, Number(process.hrtime.bigint() - start) / 1e6)
      start = process.hrtime.bigint()
      await store.sessions.rotate(sid, 'j0', { nextJti: 'j1', expiresAt: new Date(now + 3_600_000), previous: { jti: 'j0', rotatedAt: new Date(now), successor: null } })
      record(`${mode} store: rotation`, Number(process.hrtime.bigint() - start) / 1e6)
    }
  } finally {
    await fastify.close()
    await store.close()
  }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

const dir = mkdtempSync(join(process.env.BENCH_SQLITE_DIR ?? tmpdir(), 'token-orchestrator-sqlite-bench-'))
try {
  for (let r = 0; r < ROUNDS; r++) for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) await round(dir, mode)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(`synchronous=FULL vs NORMAL, ${ROUNDS} rounds x ${N} sequential requests per kind (ms)`)
console.log('case'.padEnd(34) + 'mean'.padStart(9) + 'p50'.padStart(9) + 'p99'.padStart(9))
for (const [key, values] of Object.entries(samples).sort(([a], [b]) => a.split(' ').slice(1).join(' ').localeCompare(b.split(' ').slice(1).join(' ')))) {
  const sorted = [...values].sort((a, b) => a - b)
  const mean = values.reduce((s, v) => s + v, 0) / values.length
  console.log(key.padEnd(34) + mean.toFixed(2).padStart(9) + pct(sorted, 0.5).toFixed(2).padStart(9) + pct(sorted, 0.99).toFixed(2).padStart(9))
}
