// Forged and mangled tokens (RFC 8725 §2-3, OWASP JWT cheat sheet, the JWT
// library CVEs): every forgery is built from a real, live session's claims so
// the forgery is the only thing wrong with it, and is thrown at every endpoint
// that takes a token. A control built the same way with the right key and
// algorithm is accepted, so the forging code itself is proven to work.
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import t from 'tap'
import { build, newSession, validate } from '../helper.js'
import {
  ACCESS_SECRET, REFRESH_SECRET, b64url, decodePart, forge, hostileClient, signAccess, signRefresh
} from './support.js'

type Kind = 'access' | 'refresh'
/** inHeader: false for whitespace variants, which HTTP itself trims off a header value (RFC 9110 §5.5). */
interface Forgery { name: string, token: string, inHeader: boolean }

const VALIDATION_ERRORS = ['malformed', 'invalid_signature', 'expired', 'not_yet_valid', 'invalid_claims', 'wrong_token_type', 'revoked']

/** Every forgery of one real token (its header, claims and signature). */
function forgeries (kind: Kind, real: string, trapUrl: string): Forgery[] {
  const [h, p, s] = real.split('.') as [string, string, string]
  const claims = decodePart(real, 1)
  const header = decodePart(real, 0)
  const typ = header.typ as string
  const key = kind === 'access' ? ACCESS_SECRET : REFRESH_SECRET
  const otherKey = kind === 'access' ? REFRESH_SECRET : ACCESS_SECRET
  const otherTyp = kind === 'access' ? 'rt+jwt' : 'at+jwt'
  const hmac = forge({ header, payload: claims, key }).split('.')[2]!
  const out: Forgery[] = []
  const add = (name: string, token: string, inHeader = true): void => { out.push({ name, token, inHeader }) }

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    add(`alg ${alg}, empty signature`, forge({ header: { ...header, alg }, payload: claims }))
    add(`alg ${alg}, real HMAC as signature`, forge({ header: { ...header, alg }, payload: claims, signature: hmac }))
    add(`alg ${alg}, junk signature`, forge({ header: { ...header, alg }, payload: claims, signature: 'AAAA' }))
    add(`alg ${alg}, two segments`, `${forge({ header: { ...header, alg }, payload: claims }).slice(0, -1)}`)
  }
  add('alg missing', forge({ header: { typ }, payload: claims, key }))
  add('alg null', forge({ header: { alg: null, typ }, payload: claims, key }))
  add('alg as array', forge({ header: { alg: ['HS256'], typ }, payload: claims, key }))
  add('stripped signature (trailing dot)', `${h}.${p}.`)
  add('stripped signature (two segments)', `${h}.${p}`)
  add('truncated signature', `${h}.${p}.${s.slice(0, -2)}`)
  add('signature with extra bytes', `${h}.${p}.${s}AAAA`)
  add('signature of another token', `${h}.${p}.${forge({ header, payload: { ...claims, jti: 'x' }, key }).split('.')[2]!}`)
  add(`signed with the ${kind === 'access' ? 'refresh' : 'access'} secret`, forge({ header, payload: claims, key: otherKey }))
  add('signed with a random key', forge({ header, payload: claims, key: randomBytes(32) }))
  add('signed with an empty key', forge({ header, payload: claims, key: '' }))
  add('kid path to /dev/null, empty key', forge({ header: { ...header, kid: '../../../../../../dev/null' }, payload: claims, key: '' }))
  add('kid path to a file', forge({ header: { ...header, kid: '/etc/passwd' }, payload: claims, key: 'root:x:0:0' }))
  add('kid SQL injection', forge({ header: { ...header, kid: "x' UNION SELECT 'attacker-key' -- " }, payload: claims, key: 'attacker-key' }))
  add('kid Mongo operator', forge({ header: { ...header, kid: { $ne: null } }, payload: claims, key: 'attacker-key' }))
  add('embedded jwk (attacker key)', forge({
    header: { ...header, jwk: { kty: 'oct', k: b64url('attacker-key') } }, payload: claims, key: 'attacker-key'
  }))
  add('jku to an attacker JWKS', forge({ header: { ...header, jku: `${trapUrl}/jwks.json` }, payload: claims, key: 'attacker-key' }))
  add('x5u to an attacker certificate', forge({ header: { ...header, x5u: `${trapUrl}/cert.pem` }, payload: claims, key: 'attacker-key' }))
  add('x5c with junk', forge({ header: { ...header, x5c: ['MIIB'] }, payload: claims, key: 'attacker-key' }))
  const tampered = kind === 'access'
    ? { ...claims, roles: ['admin'], scope: 'admin', sub: 'someone-else' }
    : { ...claims, sub: 'someone-else', exp: (claims.exp as number) + 86_400 }
  add('tampered payload, original signature', `${h}.${b64url(JSON.stringify(tampered))}.${s}`)
  add('tampered header (kid added), original signature', `${b64url(JSON.stringify({ ...header, kid: 'k1' }))}.${p}.${s}`)
  add('HS384 with the right secret', forge({ header: { ...header, alg: 'HS384' }, payload: claims, key, hash: 'sha384' }))
  add('HS512 with the right secret', forge({ header: { ...header, alg: 'HS512' }, payload: claims, key, hash: 'sha512' }))
  add('alg hs256 (lower case)', forge({ header: { ...header, alg: 'hs256' }, payload: claims, key }))
  add('alg RS256 with HMAC (key confusion)', forge({ header: { ...header, alg: 'RS256' }, payload: claims, key }))
  add('alg ES256 with HMAC', forge({ header: { ...header, alg: 'ES256' }, payload: claims, key }))
  add('duplicate alg, last one none', forge({ header: `{"alg":"HS256","typ":"${typ}","alg":"none"}`, payload: claims }))
  add('duplicate alg, last one none, HMAC signed', forge({ header: `{"alg":"HS256","typ":"${typ}","alg":"none"}`, payload: claims, key }))
  add(`duplicate typ (${otherTyp} then ${typ}), other kind's key`,
    forge({ header: `{"alg":"HS256","typ":"${otherTyp}","typ":"${typ}"}`, payload: claims, key: otherKey }))
  add(`typ ${otherTyp} with the right key`, forge({ header: { ...header, typ: otherTyp }, payload: claims, key }))
  add('crit naming a registered header', forge({ header: { ...header, crit: ['exp'] }, payload: claims, key }))
  add('crit naming an unknown extension', forge({ header: { ...header, crit: ['x-ours'], 'x-ours': true }, payload: claims, key }))
  add('b64:false (RFC 7797) with crit', forge({ header: { ...header, b64: false, crit: ['b64'] }, payload: claims, key }))
  add('header is an array', forge({ header: '["HS256"]', payload: claims, key }))
  add('header is not JSON', `${b64url('{alg:HS256')}.${p}.${s}`)
  add('trailing dot', `${real}.`)
  add('leading dot', `.${real}`)
  add('empty middle segment', `${h}..${s}`)
  add('four segments', `${h}.${p}.${s}.${s}`)
  add('five segments (JWE shape)', `${h}.${p}.${s}.${s}.${s}`)
  add('leading space', ` ${real}`, false)
  add('trailing space', `${real} `, false)
  add('trailing newline', `${real}\n`, false)
  add('space inside the payload', `${h}.${p.slice(0, 4)} ${p.slice(4)}.${s}`)
  add('standard base64 alphabet (+/)', `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}${s.includes('-') || s.includes('_') ? '' : '+'}`)
  add('base64 padding', `${h}==.${p}.${s}`)
  add('non-base64 characters', `${h}.${p}.${s.slice(0, -1)}!`)
  add('percent-encoded', encodeURIComponent(`${h}.${p}.${s}`).replace(/\./g, '%2E'))
  add('all junk', '%%%.%%%.%%%')
  add('dots only', '...')
  add('non-ASCII', 'é.ü.ß')
  add('NUL bytes', `${h}\u0000.${p}.${s}`)
  add('a different token type entirely (JWE-like header)', forge({ header: { alg: 'dir', enc: 'A256GCM', typ }, payload: claims, key }))
  return out
}

t.test('forged tokens are refused everywhere and nothing is fetched', async (t) => {
  // Trap server: a jku/x5u pointing here must never be fetched.
  const trapHits: string[] = []
  const trap = createServer((req, res) => { trapHits.push(req.url ?? ''); res.end('{"keys":[]}') })
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => trap.close(() => resolve())))
  const address = trap.address()
  const trapUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  // Any outbound TCP connection from this process (app.inject uses none).
  const sockets: unknown[] = []
  const onSocket = (msg: unknown): void => { sockets.push(msg) }
  diagnostics.subscribe('net.client.socket', onSocket)
  t.teardown(() => diagnostics.unsubscribe('net.client.socket', onSocket))

  const app = await build(t)
  const send = hostileClient(t, app)
  const victim = await newSession(app)
  const other = await newSession(app)

  t.test('controls: the forging code makes tokens the service accepts', async (t) => {
    const claims = decodePart(victim.access_token, 1)
    t.equal((await validate(app, signAccess(claims))).valid, true, 're-signed real claims validate')
    for (const extra of [{ kid: 'k1' }, { kid: '../../../../dev/null' }, { jku: `${trapUrl}/jwks.json` },
      { x5u: `${trapUrl}/cert.pem` }, { jwk: { kty: 'oct', k: b64url('attacker-key') } }]) {
      const token = signAccess(claims, { alg: 'HS256', typ: 'at+jwt', ...extra })
      const res = await validate(app, token)
      t.equal(res.valid, true, `${Object.keys(extra)[0]} header on a token signed with our key changes nothing`)
      const gw = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${token}` } })
      t.equal(gw.statusCode, 200, `gateway accepts it too (${Object.keys(extra)[0]})`)
    }
    const refreshClaims = decodePart(other.refresh_token, 1)
    // A re-signed copy of a live refresh token is the same token: logout with it must work.
    const res = await send({ method: 'POST', url: '/auth/logout', payload: { refresh_token: signRefresh(refreshClaims) } })
    t.equal(res.statusCode, 204, 'a refresh token forged with the right key is accepted (so refusals below mean something)')
  })

  t.test('forged access tokens', async (t) => {
    for (const { name, token, inHeader } of forgeries('access', victim.access_token, trapUrl)) {
      const v = await send({ method: 'POST', url: '/token/validate', payload: { token } }, `validate: ${name}`)
      if (token.length === 0 || v.statusCode === 400) {
        t.equal(v.statusCode, 400, `validate: ${name}: only an invalid body is a 400`)
      } else {
        t.equal(v.statusCode, 200, `validate: ${name}: 200`)
        const body = v.json()
        t.equal(body.valid, false, `validate: ${name}: valid false`)
        t.ok(VALIDATION_ERRORS.includes(body.error), `validate: ${name}: error is a known code (${body.error})`)
        t.notOk('claims' in body, `validate: ${name}: no claims echoed`)
      }
      const batch = await send({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [token, victim.access_token] } }, `batch: ${name}`)
      if (batch.statusCode === 200) {
        const results = batch.json().results
        t.equal(results[0].valid, false, `batch: ${name}: forged one invalid`)
        t.equal(results[1].valid, true, `batch: ${name}: real one beside it still valid`)
      }
      for (const url of inHeader ? ['/auth/verify', '/auth/logout-all'] : []) {
        const res = await send({ method: url === '/auth/verify' ? 'GET' : 'POST', url, headers: { authorization: `Bearer ${token}` } }, `${url}: ${name}`)
        t.equal(res.statusCode, 401, `${url}: ${name}: 401`)
        t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${url}: ${name}: WWW-Authenticate`)
        t.equal(res.headers['x-auth-subject'], undefined, `${url}: ${name}: no identity headers`)
      }
      const revoke = await send({ method: 'POST', url: '/token/revoke', payload: { token } }, `revoke: ${name}`)
      if (revoke.statusCode !== 400) t.same(revoke.json(), { revoked: false }, `revoke: ${name}: {revoked: false}`)
    }
  })

  t.test('forged refresh tokens', async (t) => {
    for (const { name, token } of forgeries('refresh', victim.refresh_token, trapUrl)) {
      for (const url of ['/auth/refresh', '/auth/logout']) {
        const res = await send({ method: 'POST', url, payload: { refresh_token: token } }, `${url}: ${name}`)
        if (res.statusCode === 400) {
          t.equal(res.json().error, 'invalid_request', `${url}: ${name}: body refused`)
        } else {
          t.equal(res.statusCode, 401, `${url}: ${name}: 401`)
          t.equal(res.json().error, 'invalid_grant', `${url}: ${name}: invalid_grant`)
        }
      }
      const revoke = await send({ method: 'POST', url: '/token/revoke', payload: { token, token_type_hint: 'refresh_token' } }, `revoke: ${name}`)
      if (revoke.statusCode !== 400) t.same(revoke.json(), { revoked: false }, `revoke: ${name}: {revoked: false}`)
      const v = await send({ method: 'POST', url: '/token/validate', payload: { token } }, `validate refresh forgery: ${name}`)
      if (v.statusCode === 200) t.equal(v.json().valid, false, `validate: ${name}: a refresh forgery is not a valid access token`)
    }
  })

  t.test('a token of one kind is refused where the other is expected', async (t) => {
    const v = await validate(app, victim.refresh_token)
    t.same(v, { valid: false, error: 'wrong_token_type' }, 'refresh token on validate: wrong_token_type')
    const gw = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${victim.refresh_token}` } })
    t.equal(gw.statusCode, 401, 'refresh token as a bearer token: 401')
    const la = await send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${victim.refresh_token}` } })
    t.equal(la.statusCode, 401, 'refresh token on logout-all: 401')
    for (const url of ['/auth/refresh', '/auth/logout']) {
      const res = await send({ method: 'POST', url, payload: { refresh_token: victim.access_token } })
      t.equal(res.statusCode, 401, `access token on ${url}: 401`)
      t.equal(res.json().error, 'invalid_grant', `access token on ${url}: invalid_grant`)
    }
  })

  t.test('oversized tokens are refused by the schema', async (t) => {
    const huge = `${victim.access_token}.${'A'.repeat(9000)}`
    for (const [url, payload] of [
      ['/token/validate', { token: huge }], ['/token/validate/batch', { tokens: [huge] }],
      ['/token/revoke', { token: huge }], ['/auth/refresh', { refresh_token: huge }], ['/auth/logout', { refresh_token: huge }]
    ] as Array<[string, object]>) {
      const res = await send({ method: 'POST', url, payload })
      t.equal(res.statusCode, 400, `${url}: token over 8192 chars → 400`)
      t.equal(res.json().error, 'invalid_request', `${url}: invalid_request`)
    }
    for (const url of ['/auth/verify', '/auth/logout-all']) {
      const res = await send({ method: url === '/auth/verify' ? 'GET' : 'POST', url, headers: { authorization: `Bearer ${huge}` } })
      t.equal(res.statusCode, 401, `${url}: oversized bearer → 401`)
    }
  })

  t.test('a non-canonical signature encoding does not dodge revocation', async (t) => {
    // Base64url's last character carries spare bits; some variants decode to the
    // same HMAC. Whether or not the verifier accepts them, revocation is by jti.
    const s = await newSession(app)
    const [h, p, sig] = s.access_token.split('.') as [string, string, string]
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(sig.at(-1)!)
    const variants = [1, 2, 3].map((d) => `${h}.${p}.${sig.slice(0, -1)}${alphabet[(last & ~3) | ((last + d) & 3)]!}`)
    const revoke = await send({ method: 'POST', url: '/token/revoke', payload: { token: s.access_token } })
    t.same(revoke.json(), { revoked: true }, 'the real token is revoked')
    for (const variant of variants) {
      const v = await validate(app, variant)
      t.equal(v.valid, false, 'a re-encoded signature of a revoked token is not valid')
      const gw = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${variant}` } })
      t.equal(gw.statusCode, 401, 'nor accepted by the gateway endpoint')
    }
  })

  t.test('after all that, the victim is untouched and nothing was fetched', async (t) => {
    t.equal((await validate(app, victim.access_token)).valid, true, 'victim access token still valid: no forgery revoked anything')
    const res = await send({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })
    t.equal(res.statusCode, 200, 'victim refresh token still current: no forgery logged out or rotated the session')
    t.same(trapHits, [], 'jku/x5u server received no request')
    t.same(sockets.length, 0, 'no outbound connection was attempted')
  })
})
