// Tools for the attacker's test suite: hand-made JWTs (any header, any payload,
// any key and algorithm, raw JSON allowed so duplicate keys can be sent), a store
// wrapper that counts calls (to prove input is refused before the store is
// touched), a log capture, and a check that every error body is a clean
// `{error, message}` with nothing inside that helps an attacker.
import { createHmac } from 'node:crypto'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { memoryStore } from '../support/stores.js'
import type { Store } from '../../src/store/types.js'
import { TEST_ENV, TEST_ISSUER } from '../helper.js'
import { nowSec } from '../support/tokens.js'

export const ACCESS_SECRET = TEST_ENV.JWT_SECRET!
export const REFRESH_SECRET = TEST_ENV.REFRESH_TOKEN_SECRET!
export const ISSUER = TEST_ISSUER
export const AUDIENCE = 'token-orchestrator'

export const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url')

export { accessClaims, nowSec } from '../support/tokens.js'

export function decodePart (token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

export interface ForgeOptions {
  /** A header object, or raw header JSON text (for duplicate-key tricks). */
  header: Record<string, unknown> | string
  /** A payload (any JSON value), or raw payload JSON text. */
  payload: unknown
  /** HMAC key; undefined → no signature (the segment is set by `signature`, default empty). */
  key?: string | Buffer
  /** HMAC hash for the signature: sha256 (HS256, default), sha384, sha512. */
  hash?: 'sha256' | 'sha384' | 'sha512'
  /** Replaces the computed signature segment. */
  signature?: string
}

/** Builds a compact JWS exactly as told, without any of a library's safety checks. */
export function forge (opts: ForgeOptions): string {
  const header = typeof opts.header === 'string' ? opts.header : JSON.stringify(opts.header)
  const payload = typeof opts.payload === 'string' && opts.payload.startsWith('{') ? opts.payload : JSON.stringify(opts.payload)
  const input = `${b64url(header)}.${b64url(payload)}`
  let signature = opts.signature ?? ''
  if (opts.signature === undefined && opts.key !== undefined) {
    signature = createHmac(opts.hash ?? 'sha256', opts.key).update(input).digest('base64url')
  }
  return `${input}.${signature}`
}

export function accessHeader (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: 'HS256', typ: 'at+jwt', ...extra }
}

export function refreshHeader (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: 'HS256', typ: 'rt+jwt', ...extra }
}

/** Claims of a well-formed refresh token (override any of them). */
export function refreshClaims (extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSec()
  return { iss: ISSUER, sub: 'forged-subject', sid: 'forged-session', jti: 'forged-jti', iat, exp: iat + 600, ...extra }
}

/** A correctly signed access token with these claims (the control for every forgery). */
export function signAccess (claims: Record<string, unknown>, header: Record<string, unknown> = accessHeader()): string {
  return forge({ header, payload: claims, key: ACCESS_SECRET })
}

export function signRefresh (claims: Record<string, unknown>, header: Record<string, unknown> = refreshHeader()): string {
  return forge({ header, payload: claims, key: REFRESH_SECRET })
}

// ---------------------------------------------------------------------------
// Store call counting

export interface CountingStore extends Store {
  /** Calls per "area.method", e.g. "users.findByUsername". */
  readonly calls: Map<string, number>
  /** Calls made for requests (the background polls, revocations.since and keys.list, are not counted). */
  total (): number
  reset (): void
}

const BACKGROUND_POLLS = new Set(['revocations.since', 'keys.list', 'ssfEvents.lastSeq', 'ssfStreams.listActive'])

export function countingStore (inner: Store = memoryStore()): CountingStore {
  const calls = new Map<string, number>()
  const wrap = <T extends object>(area: string, target: T): T => new Proxy(target, {
    get (obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const name = `${area}.${String(prop)}`
        calls.set(name, (calls.get(name) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(obj, args)
      }
    }
  })
  return {
    get kind () { return inner.kind },
    users: wrap('users', inner.users),
    sessions: wrap('sessions', inner.sessions),
    revocations: wrap('revocations', inner.revocations),
    clients: wrap('clients', inner.clients),
    keys: wrap('keys', inner.keys),
    lifetimes: wrap('lifetimes', inner.lifetimes),
    ssfStreams: wrap('ssfStreams', inner.ssfStreams),
    ssfEvents: wrap('ssfEvents', inner.ssfEvents),
    dpopProofs: wrap('dpopProofs', inner.dpopProofs),
    init: () => inner.init(),
    ping: () => inner.ping(),
    sweep: (now: Date) => inner.sweep(now),
    close: () => inner.close(),
    calls,
    total: () => [...calls].filter(([name]) => !BACKGROUND_POLLS.has(name)).reduce((sum, [, n]) => sum + n, 0),
    reset: () => calls.clear()
  }
}

// ---------------------------------------------------------------------------
// Log capture: one copy, in test/support/logs.ts.

export { captureLogs, type LogCapture } from '../support/logs.js'

// ---------------------------------------------------------------------------
// Clean error bodies

/** Things that must never be in an error body: stack frames, source files, paths, driver words, token text. */
const LEAK_PATTERNS: Array<[string, RegExp]> = [
  ['stack frame', /\bat [\w$.<>]+ \(|\n\s+at /],
  ['source file', /\.(ts|js|mjs|cjs):\d*/],
  ['file path', /(\/work\/|\/home\/|\/usr\/|\/tmp\/|node_modules|[A-Z]:\\)/],
  ['driver message', /Mongo|ECONNREFUSED|ETIMEDOUT|E11000|topology|argon2|TokenError|FAST_JWT|FST_/i],
  ['JWT text', /eyJ[A-Za-z0-9_-]{4,}/],
  ['stack property', /"stack"/]
]

export function leaksIn (body: string): string[] {
  return LEAK_PATTERNS.filter(([, re]) => re.test(body)).map(([name]) => name)
}

/**
 * Asserts the error contract on a 4xx/5xx answer: JSON `{error, message}` with
 * string values and no other keys, and none of the leak patterns.
 */
export function assertCleanError (t: Test, res: LightMyRequestResponse, label: string): void {
  const leaks = leaksIn(res.body)
  t.same(leaks, [], `${label}: error body leaks nothing`)
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    t.fail(`${label}: error body is JSON (${res.statusCode} ${res.body.slice(0, 80)})`)
    return
  }
  const keys = body !== null && typeof body === 'object' ? Object.keys(body).sort() : []
  t.same(keys, ['error', 'message'], `${label}: error body is exactly {error, message}`)
  const { error, message } = body as { error: unknown, message: unknown }
  t.ok(typeof error === 'string' && /^[a-z_]+$/.test(error) && typeof message === 'string',
    `${label}: error is a machine code and message a string`)
}

/**
 * app.inject that checks every error answer for leaks on the way. Use it for
 * every hostile request so the whole suite doubles as a leak scan.
 */
export function hostileClient (t: Test, app: FastifyInstance) {
  return async (opts: InjectOptions, label = `${opts.method ?? 'GET'} ${opts.url as string}`): Promise<LightMyRequestResponse> => {
    const res = await app.inject(opts)
    t.ok(res.statusCode < 500 || res.statusCode === 503, `${label}: no unexpected 5xx (got ${res.statusCode})`)
    if (res.statusCode >= 400) assertCleanError(t, res, label)
    return res
  }
}
