// Test support for Shared Signals: an app with an asymmetric key ring, a
// receiver client and its ssf:manage token, stream requests, a push receiver
// on a loopback port that verifies every SET it gets with jose against the
// published JWKS, and SET verification for poll answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { Test } from 'tap'
import { build, type BuildOptions } from '../helper.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_ENV, basic, createClient } from './clients.js'
import { memoryStore } from './stores.js'

export const SSF_ENV: Record<string, string> = {
  ...ADMIN_ENV,
  JWT_ALGORITHM: 'ES256',
  PUBLIC_URL: 'http://127.0.0.1:4000'
}

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked'
export const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change'
export const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled'
export const ACCOUNT_ENABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-enabled'
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification'
export const ALL_EVENTS = [SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED, ACCOUNT_ENABLED]
export const PUSH = 'urn:ietf:rfc:8935'
export const POLL = 'urn:ietf:rfc:8936'

/** An app with Shared Signals on, and its store (the app's decorators stay inside its plugin scope). */
export async function ssfApp (t: Test, opts: BuildOptions = {}): Promise<{ app: FastifyInstance, store: Store }> {
  const store = opts.store ?? memoryStore()
  if (opts.store === undefined) t.teardown(() => store.close())
  const app = await build(t, { ...opts, store, env: { ...SSF_ENV, ...opts.env } })
  return { app, store }
}

export interface Receiver {
  clientId: string
  secret: string
  token: string
  authorization: string
}

/** A client with the client_credentials grant and ssf:manage, and its access token. */
export async function newReceiver (app: FastifyInstance, scopes = ['ssf:manage']): Promise<Receiver> {
  const created = await createClient(app, { name: 'receiver', grants: ['client_credentials'], scopes })
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: basic(created.client_id, created.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials'
  })
  if (res.statusCode !== 200) throw new Error(`token failed: ${res.statusCode} ${res.body}`)
  const token = res.json().access_token as string
  return { clientId: created.client_id, secret: created.client_secret, token, authorization: `Bearer ${token}` }
}

/** Calls an /ssf endpoint as the receiver. */
export async function ssfRequest (
  app: FastifyInstance, receiver: Pick<Receiver, 'authorization'>, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: unknown
) {
  return app.inject({
    method,
    url,
    headers: { authorization: receiver.authorization },
    ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {})
  })
}

/** Creates a poll stream for all supported events; returns its id. */
export async function pollStream (app: FastifyInstance, receiver: Receiver, events = ALL_EVENTS): Promise<string> {
  const res = await ssfRequest(app, receiver, 'POST', '/ssf/streams', { delivery: { method: POLL }, events_requested: events })
  if (res.statusCode !== 201) throw new Error(`create stream failed: ${res.statusCode} ${res.body}`)
  return res.json().stream_id as string
}

/** The app's JWKS as jose's key set (what a receiver would fetch from jwks_uri). */
export async function localKeys (app: FastifyInstance): Promise<JWTVerifyGetKey> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  return createLocalJWKSet(res.json())
}

export interface VerifiedSet {
  jti: string
  type: string
  claims: JWTPayload & { sub_id: Record<string, any>, events: Record<string, Record<string, any>>, txn?: string }
  event: Record<string, any>
}

/** Verifies a SET as a receiver must (typ, iss, aud, signature through the JWKS) and checks the SSF profile. */
export async function verifySet (set: string, keys: JWTVerifyGetKey, issuer: string, audience: string): Promise<VerifiedSet> {
  const { payload, protectedHeader } = await jwtVerify(set, keys, { typ: 'secevent+jwt', issuer, audience, algorithms: ['ES256', 'EdDSA', 'RS256'] })
  if (protectedHeader.kid === undefined) throw new Error('no kid')
  if ('sub' in payload || 'exp' in payload) throw new Error('a SET carries no sub and no exp')
  const claims = payload as VerifiedSet['claims']
  const types = Object.keys(claims.events)
  if (types.length !== 1) throw new Error('one event per SET')
  return { jti: payload.jti!, type: types[0]!, claims, event: claims.events[types[0]!]! }
}

export interface PushReceiver {
  url: string
  port: number
  /** Every SET accepted, verified, in arrival order. */
  received: VerifiedSet[]
  /** Raw bodies and headers of every request, accepted or not. */
  requests: Array<{ headers: IncomingMessage['headers'], body: string }>
  /** What the next requests are answered: 202 by default. */
  answer: (request: IncomingMessage) => { status: number, body?: string } | Promise<{ status: number, body?: string }>
  close: () => Promise<void>
  listen: () => Promise<void>
}

/**
 * An RFC 8935 receiver on 127.0.0.1: verifies each SET with jose against
 * `jwksUrl` (or `keys`) and answers 202, or whatever `answer` says.
 * `listen` starts it again on the same port after `close`.
 */
export async function pushReceiver (
  t: Test, opts: { issuer: string, audience: () => string, keys: () => JWTVerifyGetKey | Promise<JWTVerifyGetKey>, port?: number }
): Promise<PushReceiver> {
  const received: VerifiedSet[] = []
  const requests: PushReceiver['requests'] = []
  let server: Server | undefined
  const receiver: PushReceiver = {
    url: '',
    port: opts.port ?? 0,
    received,
    requests,
    answer: () => ({ status: 202 }),
    close: async () => {
      const s = server
      server = undefined
      if (s === undefined) return
      s.closeAllConnections()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    },
    listen: async () => {
      const s = createServer((request: IncomingMessage, response: ServerResponse) => {
        const chunks: Buffer[] = []
        request.on('data', (c: Buffer) => chunks.push(c))
        request.on('end', () => {
          (async () => {
            const body = Buffer.concat(chunks).toString('utf8')
            requests.push({ headers: request.headers, body })
            const answer = await receiver.answer(request)
            if (answer.status === 202 && request.headers['content-type'] === 'application/secevent+jwt') {
              try {
                received.push(await verifySet(body, await opts.keys(), opts.issuer, opts.audience()))
              } catch (err) {
                response.writeHead(400, { 'content-type': 'application/json' })
                response.end(JSON.stringify({ err: 'invalid_request', description: String(err) }))
                return
              }
            }
            response.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': 'application/json' })
            response.end(answer.body ?? '')
          })().catch(() => response.destroy())
        })
      })
      await new Promise<void>((resolve) => s.listen(receiver.port, '127.0.0.1', () => resolve()))
      const address = s.address()
      receiver.port = typeof address === 'object' && address !== null ? address.port : 0
      receiver.url = `http://127.0.0.1:${receiver.port}/events`
      server = s
    }
  }
  await receiver.listen()
  t.teardown(() => receiver.close())
  return receiver
}

/** jose's remote JWKS for a running server (what a real receiver uses). */
export function remoteKeys (baseUrl: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(`${baseUrl}/.well-known/jwks.json`))
}
