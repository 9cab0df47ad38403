// Lowering ACCESS_TOKEN_TTL across a restart must not bring revoked tokens
// back: a token issued under the longer setting outlives the new one, so a
// revocation written after the restart is kept for the longer lifetime, as
// long as any token issued under it may live.
import { join } from 'node:path'
import t from 'tap'
import { PASSWORD, uniqueName } from '../helper.js'
import { ONE_SERVICE, startServer } from '../support/server-process.js'
import { ADMIN_ENV } from '../support/clients.js'
import { scratchDir } from '../support/stores.js'
import { SqliteStore } from '../../src/store/sqlite-store.js'

const post = async (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

t.test('a logout after a restart that lowered ACCESS_TOKEN_TTL is kept as long as the earlier tokens live', async (t) => {
  const file = join(scratchDir(t), 'tokens.sqlite')
  const before = await startServer(t, { ...ADMIN_ENV, ...ONE_SERVICE, SQLITE_PATH: file, ACCESS_TOKEN_TTL: '300' })
  const username = uniqueName('ttl')
  t.equal((await post(`${before.url}/auth/register`, { username, password: PASSWORD })).status, 201)
  const pair = await (await post(`${before.url}/auth/login`, { username, password: PASSWORD })).json() as { access_token: string, refresh_token: string }
  const expOf = (token: string): number => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp
  const exp = expOf(pair.access_token)
  // A service's client_credentials token, issued under the longer setting too.
  const admin = await (await post(`${before.url}/auth/login`, { username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD })).json() as { access_token: string }
  const created = await (await fetch(`${before.url}/admin/clients`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.access_token}` }, body: JSON.stringify({ name: 'svc' })
  })).json() as { client_id: string, client_secret: string }
  const service = await (await fetch(`${before.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials'
  })).json() as { access_token: string }
  const serviceExp = expOf(service.access_token)
  before.child.kill('SIGTERM')
  t.equal(await before.exited, 0)

  const after = await startServer(t, { ...ADMIN_ENV, ...ONE_SERVICE, SQLITE_PATH: file, ACCESS_TOKEN_TTL: '10' })
  t.equal((await post(`${after.url}/auth/logout`, { refresh_token: pair.refresh_token })).status, 204)
  const admin2 = await (await post(`${after.url}/auth/login`, { username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD })).json() as { access_token: string }
  t.equal((await fetch(`${after.url}/admin/clients/${created.client_id}/disable`, { method: 'POST', headers: { authorization: `Bearer ${admin2.access_token}` } })).status, 200)
  const validated = await (await post(`${after.url}/token/validate`, { token: pair.access_token })).json()
  t.same(validated, { valid: false, error: 'revoked' })
  after.child.kill('SIGTERM')
  t.equal(await after.exited, 0)

  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  const entries = await store.revocations.since(0, new Date(0), 100)
  const sid = entries.find((e) => e.kind === 'sid')
  t.ok(sid, 'the logout wrote its session revocation')
  t.ok(sid!.expiresAt.getTime() >= exp * 1000, `kept until ${sid!.expiresAt.toISOString()}, not before the token's exp ${new Date(exp * 1000).toISOString()}`)
  const disabled = entries.find((e) => e.kind === 'client' && e.value === created.client_id)
  t.ok(disabled, 'the client disable wrote its revocation')
  t.ok(disabled!.expiresAt.getTime() >= serviceExp * 1000, 'kept as long as the client\'s tokens issued under the longer setting')
})
