// The one way tests build the app: the same plugin and server options as
// production, with a test config (fixed secrets, cheap argon2, quiet logs).
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { DestinationStream } from 'pino'
import app from '../src/main/app.js'
import { loadConfig } from '../src/main/config.js'
import { serverOptions } from '../src/main/server-options.js'
import type { Store } from '../src/store/types.js'

export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  JWT_SECRET: 'Xq7TmK2vR9wLp4Zs8NbD1hJc6YfG3uWe5AoQ0iEt',
  REFRESH_TOKEN_SECRET: 'Hd4WnP8sLq1VzK6mR3tY9cB2xF7gJ5eN0aUoMiTk',
  LOG_LEVEL: 'silent',
  // A fresh database per app or process; tests that need a file set their own.
  SQLITE_PATH: ':memory:',
  // The cheapest argon2id the config allows: tests check behaviour, not cost.
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_TIME_COST: '1',
  RATE_LIMIT_AUTH: '1000',
  REVOCATION_SYNC_INTERVAL_MS: '100',
  // One process, also for servers started with NODE_ENV=production (whose default
  // is a worker per core): the tests of several workers ask for them.
  WORKERS: '1'
}

/** The `iss` of the tokens of an app built with TEST_ENV: its configuration's, the metadata's issuer (PUBLIC_URL). */
export const TEST_ISSUER = loadConfig(TEST_ENV).JWT_ISSUER

export interface BuildOptions {
  env?: Record<string, string>
  store?: Store
  /** Capture the log (sets LOG_LEVEL to info unless env says otherwise). */
  logStream?: DestinationStream
  /** The app's clock in seconds (test/support/clock.ts's testClock().now moves on demand). */
  now?: () => number
}

export async function build (t: Test, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const env = { ...TEST_ENV, ...(opts.logStream !== undefined ? { LOG_LEVEL: 'info' } : {}), ...opts.env }
  const config = loadConfig(env)
  const fastify = Fastify(serverOptions(config, opts.logStream))
  await fastify.register(app, {
    config,
    ...(opts.store !== undefined ? { store: opts.store } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {})
  })
  t.teardown(() => fastify.close())
  await fastify.ready()
  return fastify
}

export interface Session {
  access_token: string
  refresh_token: string
}

let counter = 0
/** A fresh, valid username per call. */
export function uniqueName (prefix = 'user'): string {
  counter += 1
  return `${prefix}${counter}.${process.pid}`
}

export const PASSWORD = 'correct horse battery staple'

export async function registerUser (app: FastifyInstance, username = uniqueName(), password = PASSWORD): Promise<{ id: string, username: string }> {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function login (app: FastifyInstance, username: string, password = PASSWORD): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** Registers a new user and logs in. */
export async function newSession (app: FastifyInstance): Promise<Session & { userId: string, username: string }> {
  const user = await registerUser(app)
  return { ...(await login(app, user.username)), userId: user.id, username: user.username }
}

export async function validate (app: FastifyInstance, token: string): Promise<{ valid: boolean, error?: string, claims?: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token } })
  if (res.statusCode !== 200) throw new Error(`validate failed: ${res.statusCode} ${res.body}`)
  return res.json()
}
