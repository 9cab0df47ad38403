// The real server over real HTTP: every original flow against `node dist/src/main/server.js`.
import t from 'tap'
import { PASSWORD } from '../helper.js'
import { startServer } from '../support/server-process.js'

async function post (url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text), headers: res.headers }
}

t.test('the original flows over HTTP, then a graceful SIGTERM', async (t) => {
  const server = await startServer(t)
  const { url } = server

  const reg = await post(`${url}/auth/register`, { username: 'E2E.User', password: PASSWORD })
  t.equal(reg.status, 201)
  t.equal(reg.body.username, 'e2e.user')

  const login = await post(`${url}/auth/login`, { username: 'e2e.user', password: PASSWORD })
  t.equal(login.status, 200)
  t.equal(login.headers.get('cache-control'), 'no-store')
  const { access_token: access, refresh_token: refresh } = login.body

  t.same((await post(`${url}/token/validate`, { token: access })).body.valid, true)

  const rotated = await post(`${url}/auth/refresh`, { refresh_token: refresh })
  t.equal(rotated.status, 200)
  const replay = await post(`${url}/auth/refresh`, { refresh_token: refresh })
  t.equal(replay.status, 401, 'replay of the rotated token')
  t.same((await post(`${url}/token/validate`, { token: rotated.body.access_token })).body, { valid: false, error: 'revoked' })

  const second = (await post(`${url}/auth/login`, { username: 'e2e.user', password: PASSWORD })).body
  const verify = await fetch(`${url}/auth/verify`, { headers: { authorization: `Bearer ${second.access_token}` } })
  t.equal(verify.status, 200)
  t.ok(verify.headers.get('x-auth-subject'))

  t.same((await post(`${url}/token/revoke`, { token: second.access_token })).body, { revoked: true })
  t.same((await post(`${url}/token/validate`, { token: second.access_token })).body, { valid: false, error: 'revoked' })

  const third = (await post(`${url}/auth/login`, { username: 'e2e.user', password: PASSWORD })).body
  t.equal((await post(`${url}/auth/logout`, { refresh_token: third.refresh_token })).status, 204)
  t.same((await post(`${url}/token/validate`, { token: third.access_token })).body, { valid: false, error: 'revoked' })

  const fourth = (await post(`${url}/auth/login`, { username: 'e2e.user', password: PASSWORD })).body
  t.equal((await post(`${url}/auth/logout-all`, {}, { authorization: `Bearer ${fourth.access_token}` })).status, 204)
  t.same((await post(`${url}/token/validate`, { token: fourth.access_token })).body, { valid: false, error: 'revoked' })

  const ready = await fetch(`${url}/ready`)
  t.equal(ready.status, 200)
  const docs = await fetch(`${url}/docs/json`)
  t.equal(docs.status, 200)
  t.ok((await docs.json()).paths['/token/validate'])

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'exits 0 on SIGTERM')
  const log = server.output()
  t.match(log, /SQLITE_PATH is :memory:: users, sessions and revocations will not survive a restart/)
  t.notOk(log.includes(PASSWORD), 'no password in the log')
  t.notOk(log.includes(access), 'no token in the log')
})

t.test('a bad configuration stops the start with the variable named', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../../src/main/server.js', import.meta.url))
  const res = spawnSync(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', PORT: 'not-a-port' }, encoding: 'utf8', timeout: 10_000 })
  t.equal(res.status, 1)
  t.match(res.stderr, /PORT must be integer/)
  const prod = spawnSync(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' }, encoding: 'utf8', timeout: 10_000 })
  t.equal(prod.status, 1)
  t.match(prod.stderr, /JWT_SECRET is required when NODE_ENV=production/)
})
