// HTTP-level abuse: prototype pollution, oversized bodies, wrong media types,
// broken JSON, odd Authorization headers (through app.inject and, for what only
// a real socket can send, through the listening server), tokens in the URL.
import { connect } from 'node:net'
import t from 'tap'
import { build, newSession } from '../helper.js'
import { decodePart, hostileClient, signAccess } from './support.js'

const JSON_ROUTES = ['/auth/register', '/auth/login', '/auth/refresh', '/auth/logout', '/token/validate', '/token/validate/batch', '/token/revoke']

t.test('prototype pollution keys are refused and pollute nothing', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const bodies = [
    '{"__proto__": {"polluted": "yes"}, "token": "a.b.c"}',
    '{"token": "a.b.c", "__proto__": {"polluted": "yes"}}',
    '{"constructor": {"prototype": {"polluted": "yes"}}, "token": "a.b.c"}',
    '{"token": "a.b.c", "nested": {"__proto__": {"polluted": "yes"}}}',
    '{"tokens": [{"__proto__": {"polluted": "yes"}}]}',
    '{"username": "alice", "password": "password123", "__proto__": {"isAdmin": true, "polluted": "yes"}}',
    '{"\\u005f_proto__": {"polluted": "yes"}, "token": "a.b.c"}'
  ]
  for (const url of JSON_ROUTES) {
    for (const payload of bodies) {
      const res = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload }, `${url} ${payload.slice(0, 30)}`)
      t.equal(res.statusCode, 400, `${url} ${payload.slice(0, 40)}…: 400`)
      t.equal(res.json().error, 'invalid_request', `${url}: invalid_request`)
    }
  }
  const q = await send({ method: 'GET', url: '/auth/verify?__proto__[polluted]=yes&constructor[prototype][polluted]=yes&scope=a' })
  t.equal(q.statusCode, 401, 'pollution keys in the query string: just an unauthenticated request')
  t.equal(({} as Record<string, unknown>).polluted, undefined, '({}).polluted is still undefined')
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, '({}).isAdmin is still undefined')
  t.notOk(Object.hasOwn(Object.prototype, 'polluted'), 'Object.prototype untouched')
})

t.test('bodies over the limit: 413 {error, message}', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const big = JSON.stringify({ token: 'a'.repeat(300 * 1024) })
  for (const url of JSON_ROUTES) {
    const res = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: big })
    t.equal(res.statusCode, 413, `${url}: 413`)
    t.same(res.json(), { error: 'payload_too_large', message: res.json().message }, `${url}: payload_too_large`)
  }
})

t.test('wrong content types: 415', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const cases: Array<[string, string]> = [
    ['text/plain', '{"token":"a.b.c"}'],
    ['text/plain; charset=utf-8', 'token=a.b.c'],
    ['application/x-www-form-urlencoded', 'token=a.b.c&username=alice'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\na.b.c\r\n--x--'],
    ['application/xml', '<token>a.b.c</token>'],
    ['text/html', '<script>alert(1)</script>'],
    ['application/octet-stream', '\u0000\u0001'],
    ['application/jsonx', '{"token":"a.b.c"}'],
    ['application/vnd.api+json', '{"token":"a.b.c"}'],
    ['not a media type', '{"token":"a.b.c"}']
  ]
  for (const url of JSON_ROUTES) {
    for (const [type, payload] of cases) {
      const res = await send({ method: 'POST', url, headers: { 'content-type': type }, payload }, `${url} ${type}`)
      t.equal(res.statusCode, 415, `${url} ${type}: 415`)
      t.equal(res.json().error, 'unsupported_media_type', `${url} ${type}: unsupported_media_type`)
    }
  }
})

t.test('broken JSON and empty bodies: 400, and the body is not echoed', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const broken = [
    `{"token": "${s.access_token}"`,
    `{"token": "${s.access_token}",}`,
    `{token: "${s.access_token}"}`,
    `{"token": '${s.access_token}'}`,
    `["${s.access_token}"`,
    '{"token": "\\x41"}',
    '{"token": "a\u0000b"',
    'NaN',
    '{"a":' + '['.repeat(5000)
  ]
  for (const url of JSON_ROUTES) {
    for (const payload of broken) {
      const res = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload }, `${url} broken JSON`)
      t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload.slice(0, 20))}: 400`)
      t.equal(res.json().error, 'invalid_request', `${url}: invalid_request`)
      t.notOk(res.body.includes(s.access_token.slice(0, 20)), `${url}: the token is not echoed`)
    }
    const empty = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '' }, `${url} empty JSON body`)
    t.equal(empty.statusCode, 400, `${url}: empty JSON body 400`)
    const none = await send({ method: 'POST', url }, `${url} no body`)
    t.equal(none.statusCode, 400, `${url}: no body at all 400`)
    const spaces = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '   ' }, `${url} whitespace body`)
    t.equal(spaces.statusCode, 400, `${url}: whitespace-only body 400`)
  }
})

t.test('odd Authorization headers: a clean 401 with WWW-Authenticate', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const token = s.access_token
  const odd: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['empty', ''],
    ['scheme only', 'Bearer'],
    ['scheme and a space', 'Bearer '],
    ['Basic credentials', `Basic ${Buffer.from('alice:password123').toString('base64')}`],
    ['Basic with a JWT', `Basic ${token}`],
    ['Digest', 'Digest username="alice", realm="x", nonce="y", uri="/", response="z"'],
    ['Token scheme with a valid token', `Token ${token}`],
    ['JWT scheme with a valid token', `JWT ${token}`],
    ['no scheme, valid token', token],
    ['Bearer glued to the token', `Bearer${token}`],
    ['tab instead of space', `Bearer\t${token}`],
    ['two tokens, space separated', `Bearer ${token} ${token}`],
    ['two tokens, comma separated', `Bearer ${token}, Bearer ${token}`],
    ['token then garbage', `Bearer ${token} garbage`],
    ['quoted token', `Bearer "${token}"`],
    ['lowercase bearer, garbage token', 'bearer not.a.token'],
    ['very long (20 kB)', `Bearer ${'a'.repeat(20_000)}`],
    ['very long valid-looking', `Bearer ${token}${'A'.repeat(9000)}`],
    ['Latin-1 characters', `Bearer ${token.slice(0, 10)}\u00e9\u00e8${token.slice(12)}`],
    ['token in a cookie-like form', `access_token=${token}`]
  ]
  for (const url of ['/auth/verify', '/auth/logout-all']) {
    for (const [label, value] of odd) {
      const headers = value === undefined ? {} : { authorization: value }
      const res = await send({ method: url === '/auth/verify' ? 'GET' : 'POST', url, headers }, `${url} ${label}`)
      t.equal(res.statusCode, 401, `${url} ${label}: 401`)
      t.equal(res.json().error, 'invalid_token', `${url} ${label}: invalid_token`)
      t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${url} ${label}: WWW-Authenticate`)
      t.equal(res.headers['x-auth-subject'], undefined, `${url} ${label}: no identity headers`)
    }
  }
  // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1: 1*SP after it.
  for (const value of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`]) {
    const res = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: value } })
    t.equal(res.statusCode, 200, `"${value.slice(0, 8)}…" with a valid token is accepted (standard syntax)`)
  }
})

t.test('tokens in the query string or a form are not accepted', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const q = encodeURIComponent(s.access_token)
  for (const [method, url] of [
    ['GET', `/auth/verify?access_token=${q}`], ['GET', `/auth/verify?token=${q}`], ['GET', `/auth/verify?authorization=Bearer%20${q}`],
    ['POST', `/auth/verify?access_token=${q}`], ['POST', `/auth/logout-all?access_token=${q}`]
  ] as const) {
    const res = await send({ method, url })
    t.equal(res.statusCode, 401, `${method} ${url.split('?')[0]}?${url.split('?')[1]!.split('=')[0]}=…: 401`)
  }
  const form = await send({ method: 'POST', url: '/auth/logout-all', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `access_token=${q}` })
  t.equal(form.statusCode, 415, 'form-encoded access_token (RFC 6750 §2.2): refused')
  const v = await send({ method: 'POST', url: `/token/validate?token=${q}` })
  t.equal(v.statusCode, 400, 'validate with the token only in the URL: 400')
  const r = await send({ method: 'POST', url: `/auth/refresh?refresh_token=${encodeURIComponent(s.refresh_token)}` })
  t.equal(r.statusCode, 400, 'refresh with the token only in the URL: 400')
  const notFound = await send({ method: 'GET', url: `/token/${s.access_token}` }, 'GET /token/<token>')
  t.equal(notFound.statusCode, 404, 'a token in an unknown path: 404 (and the leak check saw no token in the body)')
  const la = await send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${s.access_token}` } })
  t.equal(la.statusCode, 204, 'the token itself was fine all along (so the refusals above were about where it was sent)')
})

/** Sends raw bytes to the listening server and returns the status code, headers and body. */
async function raw (port: number, request: string | Buffer): Promise<{ status: number, head: string, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => { data += chunk })
    socket.on('error', reject)
    socket.on('end', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n')
      resolve({ status: Number(head.split(' ')[1]), head, body: rest.join('\r\n\r\n') })
    })
  })
}

t.test('through a real socket: duplicate, non-ASCII and control-character Authorization headers', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const request = (auth: string[] | Buffer[]): Buffer => Buffer.concat([
    Buffer.from('GET /auth/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n'),
    ...auth.map((a) => Buffer.concat([Buffer.from('Authorization: '), Buffer.from(a), Buffer.from('\r\n')])),
    Buffer.from('\r\n')
  ])
  const ok = await raw(port, request([`Bearer ${s.access_token}`]))
  t.equal(ok.status, 200, 'control: one valid Authorization header → 200')
  const dup = await raw(port, request([`Bearer ${s.access_token}`, 'Bearer forged.token.here']))
  t.equal(dup.status, 401, 'valid then forged Authorization header: 401 (ambiguous, not first-wins)')
  const dup2 = await raw(port, request(['Bearer forged.token.here', `Bearer ${s.access_token}`]))
  t.equal(dup2.status, 401, 'forged then valid Authorization header: 401 (not last-wins either)')
  const dup3 = await raw(port, request([`Bearer ${s.access_token}`, `Bearer ${s.access_token}`]))
  t.equal(dup3.status, 401, 'the same valid header twice: 401')
  const utf8 = await raw(port, request([Buffer.from(`Bearer ${s.access_token.slice(0, 20)}\u00e9\u4e2d${s.access_token.slice(20)}`, 'utf8')]))
  t.equal(utf8.status, 401, 'UTF-8 bytes inside the token: 401')
  t.match(utf8.head, /www-authenticate: Bearer error="invalid_token"/i, 'with WWW-Authenticate')
  const nul = await raw(port, request([Buffer.from(`Bearer ${s.access_token}\u0000`, 'latin1')]))
  t.equal(nul.status, 400, 'a NUL byte in the header: the HTTP parser refuses the request (400)')
  const crlf = await raw(port, Buffer.from(`GET /auth/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.access_token}\rX-Auth-Subject: admin\r\nConnection: close\r\n\r\n`))
  t.equal(crlf.status, 400, 'a bare CR (header smuggling) is refused by the parser')
  const huge = await raw(port, request([`Bearer ${'a'.repeat(20_000)}`]))
  t.equal(huge.status, 431, 'a header over Node\'s 16 kB limit: 431')
  // What the parser refuses is answered like everything else: {error, message} and the headers of every answer.
  for (const [label, answer, error] of [['NUL byte', nul, 'invalid_request'], ['bare CR', crlf, 'invalid_request'], ['oversized header', huge, 'request_header_fields_too_large']] as const) {
    t.match(answer.head, /\r\nx-request-id: [0-9a-f-]{36}\r\n/, `${label}: X-Request-Id`)
    t.match(answer.head, /\r\nx-content-type-options: nosniff\r\n/, `${label}: nosniff`)
    t.match(answer.head, /\r\ncache-control: no-store\r\n/, `${label}: no-store`)
    t.same(Object.keys(JSON.parse(answer.body)), ['error', 'message'], `${label}: {error, message}`)
    t.equal(JSON.parse(answer.body).error, error, `${label}: ${error}`)
    t.notMatch(answer.body, s.access_token.slice(-20), `${label}: the token is not echoed`)
  }
  const malformed = await raw(port, 'GET / admin/users HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(malformed.status, 400, 'a malformed request line: 400')
  t.same(JSON.parse(malformed.body), { error: 'invalid_request', message: 'the request is not valid HTTP' })
})

t.test('claims cannot inject response headers through the gateway endpoint', async (t) => {
  // Even a token we signed (e.g. a client whose scope an admin typed badly) must
  // not turn claim text into extra headers or split the response.
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const base = decodePart(s.access_token, 1)
  for (const [label, claims] of [
    ['CRLF in scope', { ...base, scope: 'read\r\nX-Auth-Admin: true' }],
    ['LF in sub', { ...base, sub: 'alice\nSet-Cookie: session=stolen' }],
    ['NUL in client_id', { ...base, client_id: 'default\u0000evil' }],
    ['non-ASCII in sub', { ...base, sub: 'al\u00efce\u2028' }],
    ['very long scope', { ...base, scope: 'a'.repeat(5000) }]
  ] as Array<[string, Record<string, unknown>]>) {
    const res = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${signAccess(claims)}` } }, `verify ${label}`)
    t.equal(res.statusCode, 401, `${label}: 401`)
    t.equal(res.headers['x-auth-admin'], undefined, `${label}: no injected header`)
    t.equal(res.headers['set-cookie'], undefined, `${label}: no injected cookie`)
    t.equal(res.headers['x-auth-subject'], undefined, `${label}: no identity headers`)
  }
  const ok = await send({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${signAccess({ ...base, scope: 'read write' })}` } })
  t.equal(ok.statusCode, 200, 'control: plain printable claims are forwarded')
  t.equal(ok.headers['x-auth-scope'], 'read write', 'control: X-Auth-Scope carries the scope')
})
