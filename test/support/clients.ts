// Test support for clients: the bootstrap admin's env, HTTP Basic client credentials, and creating clients
// through the admin API (the app's decorators live inside its plugin scope).
import type { FastifyInstance } from 'fastify'
import { login } from '../helper.js'

/** An HTTP Basic `Authorization` value for client credentials (each part form-urlencoded, RFC 6749 §2.3.1). */
export function basic (id: string, secret: string): string {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')
}

export const ADMIN_ENV = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'a-long-admin-password-for-tests' }

export async function adminToken (app: FastifyInstance): Promise<string> {
  return (await login(app, ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)).access_token
}

export interface CreatedClient {
  client_id: string
  client_secret: string
  [key: string]: unknown
}

/** Creates a client through POST /admin/clients (needs an app built with ADMIN_ENV). */
export async function createClient (app: FastifyInstance, payload: Record<string, unknown>, token?: string): Promise<CreatedClient> {
  const res = await app.inject({
    method: 'POST',
    url: '/admin/clients',
    headers: { authorization: `Bearer ${token ?? await adminToken(app)}` },
    payload
  })
  if (res.statusCode !== 201) throw new Error(`create client failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function disableClient (app: FastifyInstance, clientId: string): Promise<void> {
  const res = await app.inject({
    method: 'POST', url: `/admin/clients/${clientId}/disable`, headers: { authorization: `Bearer ${await adminToken(app)}` }
  })
  if (res.statusCode !== 200) throw new Error(`disable client failed: ${res.statusCode} ${res.body}`)
}
