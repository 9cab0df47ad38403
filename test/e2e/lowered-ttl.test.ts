// Lowering ACCESS_TOKEN_TTL across a restart must not bring revoked tokens
// back: a token issued under the longer setting outlives the new one, so a
// revocation written after the restart is kept for the longer lifetime, as
// long as any token issued under it may live.
import { join } from 'node:path'
import t from 'tap'
import { PASSWORD, uniqueName } from '../helper.js'
import { startServer } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'
import { SqliteStore } from '../../src/store/sqlite-store.js'

const post = async (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

t.test('a logout after a restart that lowered ACCESS_TOKEN_TTL is kept as long as the earlier tokens live', async (t) => {
  const file = join(scratchDir(t), 'tokens.sqlite')
  const before = await startServer(t, { SQLITE_PATH: file, ACCESS_TOKEN_TTL: '300' })
  const username = uniqueName('ttl')
  t.equal((await post(`${before.url}/auth/register`, { username, password: PASSWORD })).status, 201)
  const pair = await (await post(`${before.url}/auth/login`, { username, password: PASSWORD })).json() as { access_token: string, refresh_token: string }
  const exp = (JSON.parse(Buffer.from(pair.access_token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp
  before.child.kill('SIGTERM')
  t.equal(await before.exited, 0)

  const after = await startServer(t, { SQLITE_PATH: file, ACCESS_TOKEN_TTL: '10' })
  t.equal((await post(`${after.url}/auth/logout`, { refresh_token: pair.refresh_token })).status, 204)
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
})
