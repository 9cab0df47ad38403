// Support for the verifier tests: a real service process signing with ES256
// (its own scratch store), and the HTTP calls the tests make against it.
import type { Test } from 'tap'
import { ADMIN_ENV, basic } from '../support/clients.js'
import { freePort, startServer, type RunningServer } from '../support/server-process.js'

export const PASSWORD = 'correct horse battery staple'

export interface Service extends RunningServer {
  env: Record<string, string>
  call: (method: string, path: string, opts?: { body?: unknown, headers?: Record<string, string> }) => Promise<{ status: number, body: any, headers: Headers }>
  adminToken: () => Promise<string>
  /** A client with the given scopes (and audiences); returns its id and secret. */
  createClient: (scopes: string[], extra?: Record<string, unknown>) => Promise<{ clientId: string, clientSecret: string }>
  /** A new user, logged in. */
  newSession: () => Promise<{ access_token: string, refresh_token: string, username: string }>
  login: (username: string) => Promise<{ access_token: string, refresh_token: string }>
  /** A client_credentials access token. */
  serviceToken: (clientId: string, clientSecret: string) => Promise<string>
}

let users = 0

export async function startService (t: Test, env: Record<string, string> = {}): Promise<Service> {
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
  const fullEnv = {
    JWT_ALGORITHM: 'ES256',
    ...ADMIN_ENV,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: 'warn',
    ...env,
    PORT: String(port)
  }
  const server = await startServer(t, fullEnv)
  const call: Service['call'] = async (method, path, opts = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {})
    })
    const text = await res.text()
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
  }
  const login = async (username: string): Promise<{ access_token: string, refresh_token: string }> => {
    const res = await call('POST', '/auth/login', { body: { username, password: username === ADMIN_ENV.ADMIN_USERNAME ? ADMIN_ENV.ADMIN_PASSWORD : PASSWORD } })
    if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  const adminToken = async (): Promise<string> => (await login(ADMIN_ENV.ADMIN_USERNAME)).access_token
  return {
    ...server,
    env: fullEnv,
    call,
    login,
    adminToken,
    async createClient (scopes, extra = {}) {
      const res = await call('POST', '/admin/clients', {
        headers: { authorization: `Bearer ${await adminToken()}` },
        body: { name: 'resource server', scopes, ...extra }
      })
      if (res.status !== 201) throw new Error(`create client: ${res.status} ${JSON.stringify(res.body)}`)
      return { clientId: res.body.client_id, clientSecret: res.body.client_secret }
    },
    async newSession () {
      users += 1
      const username = `user${users}.${process.pid}`
      const reg = await call('POST', '/auth/register', { body: { username, password: PASSWORD } })
      if (reg.status !== 201) throw new Error(`register: ${reg.status}`)
      return { ...(await login(username)), username }
    },
    async serviceToken (clientId, clientSecret) {
      const res = await call('POST', '/oauth/token', {
        headers: { authorization: basic(clientId, clientSecret) },
        body: { grant_type: 'client_credentials' }
      })
      if (res.status !== 200) throw new Error(`client_credentials: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.access_token
    }
  }
}

/** Polls `check` every 10 ms until it is true; resolves with the time it took, or rejects after `limitMs`. */
export async function within (limitMs: number, check: () => boolean): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (check()) return Date.now() - started
    if (Date.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The payload of a JWT, unverified. */
export function payloadOf (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}
