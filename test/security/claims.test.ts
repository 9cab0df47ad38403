// Claims an attacker (or a broken clock) gets wrong, on tokens correctly signed
// with our own keys: the signature is fine, the claims are not. Built from a
// live session's claims so nothing else is wrong with them.
import t from 'tap'
import { build, newSession, validate } from '../helper.js'
import {
  ACCESS_SECRET, REFRESH_SECRET, accessHeader, decodePart, forge, hostileClient, nowSec, refreshHeader, signAccess
} from './support.js'

/** Waits until we are well inside a second, so "exp == now" cannot straddle a tick. */
async function midSecond (): Promise<void> {
  while (Date.now() % 1000 < 100 || Date.now() % 1000 > 700) await new Promise((resolve) => setTimeout(resolve, 20))
}

const omit = (claims: Record<string, unknown>, key: string): Record<string, unknown> => {
  const copy = { ...claims }
  delete copy[key]
  return copy
}

interface Case { name: string, claims?: Record<string, unknown>, raw?: unknown, header?: Record<string, unknown>, error: string | string[] }

function cases (base: Record<string, unknown>, kind: 'access' | 'refresh'): Case[] {
  const now = nowSec()
  const list: Case[] = [
    { name: 'expired a minute ago', claims: { ...base, exp: now - 60 }, error: 'expired' },
    { name: 'exp == now', claims: { ...base, exp: now }, error: 'expired' },
    { name: 'nbf a minute ahead', claims: { ...base, nbf: now + 60 }, error: 'not_yet_valid' },
    { name: 'iat 45 s ahead (beyond the 30 s leeway)', claims: { ...base, iat: now + 45 }, error: 'not_yet_valid' },
    { name: 'iat a day ahead', claims: { ...base, iat: now + 86_400, exp: now + 90_000 }, error: 'not_yet_valid' },
    { name: 'wrong iss', claims: { ...base, iss: 'https://evil.example' }, error: 'invalid_claims' },
    { name: 'iss as array', claims: { ...base, iss: ['token-orchestrator'] }, error: 'invalid_claims' },
    { name: 'missing iss', claims: omit(base, 'iss'), error: 'invalid_claims' },
    { name: 'missing exp', claims: omit(base, 'exp'), error: 'invalid_claims' },
    { name: 'exp as a string', claims: { ...base, exp: String(now + 600) }, error: 'invalid_claims' },
    { name: 'exp null', claims: { ...base, exp: null }, error: 'invalid_claims' },
    { name: 'exp as an object', claims: { ...base, exp: { $gt: 0 } }, error: 'invalid_claims' },
    { name: 'nbf as a string', claims: { ...base, nbf: '0' }, error: 'invalid_claims' },
    { name: 'missing iat', claims: omit(base, 'iat'), error: 'invalid_claims' },
    { name: 'iat as a string', claims: { ...base, iat: String(now) }, error: 'invalid_claims' },
    { name: 'missing sub', claims: omit(base, 'sub'), error: 'invalid_claims' },
    { name: 'sub as a number', claims: { ...base, sub: 42 }, error: 'invalid_claims' },
    { name: 'missing jti', claims: omit(base, 'jti'), error: 'invalid_claims' },
    { name: 'jti as an object', claims: { ...base, jti: { $ne: null } }, error: 'invalid_claims' },
    { name: 'sid as an object', claims: { ...base, sid: { $ne: null } }, error: 'invalid_claims' },
    { name: 'payload is an array', raw: [base], error: 'malformed' },
    { name: 'payload is a string', raw: 'just a string', error: 'malformed' },
    { name: 'payload is a number', raw: 12345, error: 'malformed' },
    { name: 'payload is null', raw: null, error: 'malformed' },
    { name: 'payload is true', raw: true, error: 'malformed' }
  ]
  const otherTypes = ['wrong_token_type', 'invalid_signature', 'malformed', 'invalid_claims']
  const typ = kind === 'access' ? 'at+jwt' : 'rt+jwt'
  list.push(
    { name: 'typ JWT', claims: base, header: { alg: 'HS256', typ: 'JWT' }, error: otherTypes },
    { name: 'typ missing', claims: base, header: { alg: 'HS256' }, error: otherTypes },
    { name: `typ ${kind === 'access' ? 'rt+jwt' : 'at+jwt'}`, claims: base, header: { alg: 'HS256', typ: kind === 'access' ? 'rt+jwt' : 'at+jwt' }, error: 'wrong_token_type' },
    { name: 'typ as a number', claims: base, header: { alg: 'HS256', typ: 1 }, error: otherTypes },
    { name: `typ ${typ} twice in an array`, claims: base, header: { alg: 'HS256', typ: [typ, typ] }, error: otherTypes }
  )
  if (kind === 'access') {
    list.push(
      { name: 'wrong aud', claims: { ...base, aud: 'another-service' }, error: 'invalid_claims' },
      { name: 'aud array without ours', claims: { ...base, aud: ['a', 'b'] }, error: 'invalid_claims' },
      { name: 'missing aud', claims: omit(base, 'aud'), error: 'invalid_claims' },
      { name: 'aud as an object', claims: { ...base, aud: { $in: ['token-orchestrator'] } }, error: 'invalid_claims' },
      { name: 'roles as a string', claims: { ...base, roles: 'admin' }, error: 'invalid_claims' },
      { name: 'roles with a non-string', claims: { ...base, roles: ['user', { admin: true }] }, error: 'invalid_claims' },
      { name: 'missing client_id', claims: omit(base, 'client_id'), error: 'invalid_claims' },
      { name: 'scope as an array', claims: { ...base, scope: ['admin'] }, error: 'invalid_claims' }
    )
  } else {
    list.push({ name: 'missing sid', claims: omit(base, 'sid'), error: 'invalid_claims' })
  }
  return list
}

function tokenFor (c: Case, kind: 'access' | 'refresh'): string {
  const header = c.header ?? (kind === 'access' ? accessHeader() : refreshHeader())
  return forge({ header, payload: c.raw !== undefined ? c.raw : c.claims, key: kind === 'access' ? ACCESS_SECRET : REFRESH_SECRET })
}

t.test('access token claims', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const base = decodePart(s.access_token, 1)
  t.equal((await validate(app, signAccess({ ...base, aud: ['x', 'token-orchestrator'] }))).valid, true,
    'control: correctly signed claims (aud as an array including ours) validate')
  await midSecond()
  for (const c of cases(base, 'access')) {
    const token = tokenFor(c, 'access')
    const res = await validate(app, token)
    t.equal(res.valid, false, `${c.name}: valid false`)
    const allowed = Array.isArray(c.error) ? c.error : [c.error]
    t.ok(allowed.includes(res.error ?? ''), `${c.name}: error ${res.error} is ${allowed.join(' or ')}`)
    const gw = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${token}` } }, `verify: ${c.name}`)
    t.equal(gw.statusCode, 401, `${c.name}: gateway 401`)
    const la = await send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${token}` } }, `logout-all: ${c.name}`)
    t.equal(la.statusCode, 401, `${c.name}: logout-all 401`)
  }
  t.equal((await validate(app, s.access_token)).valid, true, 'the real session was not ended by any of them')
})

t.test('refresh token claims', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const base = decodePart(s.refresh_token, 1)
  await midSecond()
  for (const c of cases(base, 'refresh')) {
    const token = tokenFor(c, 'refresh')
    for (const url of ['/auth/refresh', '/auth/logout']) {
      const res = await send({ method: 'POST', url, payload: { refresh_token: token } }, `${url}: ${c.name}`)
      t.equal(res.statusCode, 401, `${url}: ${c.name}: 401`)
      t.equal(res.json().error, 'invalid_grant', `${url}: ${c.name}: invalid_grant`)
    }
    const revoke = await send({ method: 'POST', url: '/token/revoke', payload: { token, token_type_hint: 'refresh_token' } }, `revoke: ${c.name}`)
    t.same(revoke.json(), { revoked: false }, `revoke: ${c.name}: {revoked: false}`)
  }
  // Nothing above ended or rotated the session: the real refresh token (same sid, same jti) still works.
  t.equal((await validate(app, s.access_token)).valid, true, 'the real access token is still valid')
  const res = await send({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
  t.equal(res.statusCode, 200, 'the real refresh token still rotates')
})
