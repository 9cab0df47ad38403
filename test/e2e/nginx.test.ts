// A real gateway: nginx (auth_request) in front of the listening service and a
// small upstream that echoes the identity headers it receives. A valid token
// reaches the upstream with its subject; missing, forged, revoked and hostile
// tokens get 401 from nginx; a missing scope gets 403. The location blocks
// below are the snippet documented in docs/gateways.md and docs/security.md; two of
// them guard two APIs by audience.
// Skips, saying so, only when nginx is not installed (.ci/run installs it).
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TEST_ENV, TEST_ISSUER } from '../helper.js'
import { findNginx, stopProcess } from '../support/nginx.js'
import { freePort } from '../support/server-process.js'
import { accessToken } from '../support/tokens.js'
import { dpopKey } from '../support/dpop.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

async function waitFor (url: string, proc?: ChildProcess, log?: string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (proc !== undefined && proc.exitCode !== null) {
      const detail = log !== undefined && existsSync(log) ? await readFile(log, 'utf8') : ''
      throw new Error(`${url}: process exited with ${proc.exitCode}\n${detail}`)
    }
    try {
      await fetch(url)
      return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not come up`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The gateway part of the config: what an operator puts in their server block. */
export function authRequestLocations (service: string, upstream: string, origin: string): string {
  return `
    # Every request under / is authorized by the token service first.
    location = /_token_auth {
      internal;
      proxy_pass http://${service}/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      # What a DPoP proof's htu names: this gateway's own origin, fixed, never the client's Host.
      # Authorization and DPoP are passed as the client sent them.
      proxy_set_header X-Original-URL ${origin}$request_uri;
    }

    # The same check, also requiring the admin role in the token's roles claim (403 without it).
    location = /_token_auth_admin {
      internal;
      proxy_pass http://${service}/auth/verify?role=admin;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL ${origin}$request_uri;
    }

    # One check per API behind this gateway: a token passes only where its
    # \`aud\` names the API (401 invalid_token elsewhere).
    location = /_token_auth_orders {
      internal;
      proxy_pass http://${service}/auth/verify?audience=orders-api;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL ${origin}$request_uri;
    }

    location = /_token_auth_shop {
      internal;
      proxy_pass http://${service}/auth/verify?audience=shop-api;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL ${origin}$request_uri;
    }

    location /orders-api/ {
      auth_request /_token_auth_orders;
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_set_header Authorization "";
      proxy_pass http://${upstream};
    }

    location /shop-api/ {
      auth_request /_token_auth_shop;
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_set_header Authorization "";
      proxy_pass http://${upstream};
    }

    location /admin/ {
      auth_request /_token_auth_admin;
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_pass http://${upstream};
    }

    location / {
      auth_request /_token_auth;
      # Identity from the token service, forwarded to the application.
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      auth_request_set $auth_session $upstream_http_x_auth_session;
      auth_request_set $auth_client  $upstream_http_x_auth_client;
      auth_request_set $auth_scope   $upstream_http_x_auth_scope;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_set_header X-Auth-Session $auth_session;
      proxy_set_header X-Auth-Client  $auth_client;
      proxy_set_header X-Auth-Scope   $auth_scope;
      # The bearer token is the gateway's business, not the application's.
      proxy_set_header Authorization "";
      proxy_pass http://${upstream};
    }`
}

function nginxConf (dir: string, listen: number, service: string, upstream: string): string {
  const asRoot = process.getuid?.() === 0
  return `${asRoot ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${listen};
${authRequestLocations(service, upstream, `http://127.0.0.1:${listen}`)}
  }
}
`
}

const nginx = findNginx()

t.test('nginx auth_request in front of the token service', { skip: nginx === null ? 'nginx not found on PATH or in /usr/sbin: install nginx-light (.ci/run does) to run the gateway test' : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'token-orchestrator-nginx-'))
  await chmod(dir, 0o755)
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  // The upstream application: echoes the identity headers it was given.
  const seen: Array<Record<string, string | undefined>> = []
  const upstream: Server = createHttpServer((req, res) => {
    const headers = {
      subject: req.headers['x-auth-subject'] as string | undefined,
      session: req.headers['x-auth-session'] as string | undefined,
      client: req.headers['x-auth-client'] as string | undefined,
      authorization: req.headers.authorization
    }
    seen.push(headers)
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, ...headers }))
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { upstream.closeAllConnections(); upstream.close(() => resolve()) }))
  const upstreamPort = (upstream.address() as { port: number }).port

  // The real service, listening.
  const servicePort = await freePort()
  // The iss the test's crafted tokens carry (the service's own default would name its random port).
  const env: NodeJS.ProcessEnv = {
    ...process.env, ...TEST_ENV, JWT_ISSUER: TEST_ISSUER, PORT: String(servicePort), HOST: '127.0.0.1', LOG_LEVEL: 'warn'
  }
  delete env.MONGODB_URL // the embedded store
  const service = spawn(process.execPath, [join(root, 'dist', 'src', 'main', 'server.js')], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'inherit']
  })
  t.teardown(() => stopProcess(service))
  const serviceUrl = `http://127.0.0.1:${servicePort}`
  await waitFor(`${serviceUrl}/health`, service)

  // nginx, in the foreground, everything under the temp dir.
  const gatewayPort = await freePort()
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, nginxConf(dir, gatewayPort, `127.0.0.1:${servicePort}`, `127.0.0.1:${upstreamPort}`))
  const check = spawnSync(nginx!, ['-t', '-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { encoding: 'utf8' })
  t.equal(check.status, 0, 'nginx -t accepts the config', { stderr: check.stderr })
  const gateway = spawn(nginx!, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] })
  t.teardown(() => stopProcess(gateway, 'SIGQUIT'))
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  await waitFor(gatewayUrl, gateway, join(dir, 'error.log'))

  const post = async (path: string, body: unknown): Promise<Response> => fetch(`${serviceUrl}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
  })
  const username = `gateway.${process.pid}`
  t.equal((await post('/auth/register', { username, password: 'correct horse battery staple' })).status, 201)
  const loginRes = await post('/auth/login', { username, password: 'correct horse battery staple' })
  t.equal(loginRes.status, 200)
  const pair = await loginRes.json() as { access_token: string, refresh_token: string }
  const sub = JSON.parse(Buffer.from(pair.access_token.split('.')[1]!, 'base64url').toString()).sub as string
  const through = (path: string, authorization?: string): Promise<Response> =>
    fetch(`${gatewayUrl}${path}`, { headers: authorization !== undefined ? { authorization } : {} })

  const ok = await through('/orders/42?x=1', `Bearer ${pair.access_token}`)
  t.equal(ok.status, 200, 'a valid token passes the gateway')
  const echoed = await ok.json() as Record<string, string | undefined>
  t.equal(echoed.path, '/orders/42?x=1')
  t.equal(echoed.subject, sub, 'the upstream receives X-Auth-Subject')
  t.equal(echoed.client, 'default')
  t.type(echoed.session, 'string')
  t.equal(echoed.authorization, undefined, 'the bearer token is not forwarded upstream')

  const upstreamCalls = seen.length
  const denied: Array<[string, string | undefined]> = [
    ['missing token', undefined],
    ['not a bearer credential', 'Basic dXNlcjpwYXNz'],
    ['garbage', 'Bearer garbage'],
    ['forged (another key)', `Bearer ${accessToken({ sub }, { secret: 'forged-secret-0123456789-abcdefghijklmnopqr' })}`],
    ['refresh token', `Bearer ${pair.refresh_token}`],
    ['header injection in sub', `Bearer ${accessToken({ sub: 'eve\r\nX-Auth-Subject: admin' })}`]
  ]
  for (const [why, authorization] of denied) {
    const res = await through('/orders/42', authorization)
    t.equal(res.status, 401, `${why}: 401 from nginx`)
    await res.arrayBuffer()
  }

  const noRole = await through('/admin/users', `Bearer ${pair.access_token}`)
  t.equal(noRole.status, 403, 'a token without the admin role gets 403')
  const scopeOnly = await through('/admin/users', `Bearer ${accessToken({ sub: 'eve-1', scope: 'admin', roles: [] })}`)
  t.equal(scopeOnly.status, 403, 'a scope named admin is not the role')
  const admin = await through('/admin/users', `Bearer ${accessToken({ sub: 'root-1', roles: ['admin'] })}`)
  t.equal(admin.status, 200, 'a token with the admin role passes')
  t.equal((await admin.json() as { subject: string }).subject, 'root-1')

  t.equal((await post('/auth/logout', { refresh_token: pair.refresh_token })).status, 204)
  const revoked = await through('/orders/42', `Bearer ${pair.access_token}`)
  t.equal(revoked.status, 401, 'a revoked token gets 401 from nginx')
  t.equal(seen.length, upstreamCalls + 1, 'no denied request reached the upstream')

  // A DPoP-bound login: nginx forwards Authorization, DPoP and the original method and URL.
  const key = await dpopKey()
  const loginUrl = `${serviceUrl}/auth/login`
  const boundRes = await fetch(loginUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: await key.proof({ method: 'POST', url: `http://localhost:${servicePort}/auth/login` }) },
    body: JSON.stringify({ username, password: 'correct horse battery staple' })
  })
  t.equal(boundRes.status, 200, 'login with a DPoP proof')
  const bound = (await boundRes.json() as { access_token: string }).access_token
  const dpopThrough = (path: string, proof?: string, scheme = 'DPoP'): Promise<Response> =>
    fetch(`${gatewayUrl}${path}`, { headers: { authorization: `${scheme} ${bound}`, ...(proof !== undefined ? { dpop: proof } : {}) } })
  const proofFor = (path: string, o: { method?: string, accessToken?: string } = {}): Promise<string> =>
    key.proof({ method: o.method ?? 'GET', url: `${gatewayUrl}${path}`, accessToken: o.accessToken ?? bound })
  const dpopCalls = seen.length
  const fresh = await proofFor('/orders/7')
  const dpopOk = await dpopThrough('/orders/7?page=1', fresh)
  t.equal(dpopOk.status, 200, 'a bound token with its proof passes nginx')
  t.equal((await dpopOk.json() as { subject: string }).subject, sub)
  const dpopDenied: Array<[string, Promise<Response>]> = [
    ['the same proof again', dpopThrough('/orders/7', fresh)],
    ['no proof', dpopThrough('/orders/7')],
    ['sent as Bearer', dpopThrough('/orders/7', await proofFor('/orders/7'), 'Bearer')],
    ['a proof for another URL', dpopThrough('/orders/8', await proofFor('/orders/7'))],
    ['a proof for another method', dpopThrough('/orders/7', await proofFor('/orders/7', { method: 'POST' }))],
    ['a proof for another token', dpopThrough('/orders/7', await proofFor('/orders/7', { accessToken: pair.access_token }))],
    ['a proof from another key', dpopThrough('/orders/7', await (await dpopKey()).proof({ method: 'GET', url: `${gatewayUrl}/orders/7`, accessToken: bound }))]
  ]
  for (const [why, pending] of dpopDenied) {
    const res = await pending
    t.equal(res.status, 401, `DPoP, ${why}: 401 from nginx`)
    await res.arrayBuffer()
  }
  t.equal(seen.length, dpopCalls + 1, 'no refused DPoP request reached the upstream')

  // Two APIs behind one gateway, each location requiring its own audience.
  const forOrders = accessToken({ sub: 'orders-user', aud: ['token-orchestrator', 'orders-api'] })
  const forShop = accessToken({ sub: 'shop-user', aud: ['token-orchestrator', 'shop-api'] })
  const audienceCalls = seen.length
  const ordersOk = await through('/orders-api/items', `Bearer ${forOrders}`)
  t.equal(ordersOk.status, 200, 'a token for orders-api passes at /orders-api/')
  t.equal((await ordersOk.json() as { subject: string }).subject, 'orders-user')
  const shopOk = await through('/shop-api/cart', `Bearer ${forShop}`)
  t.equal(shopOk.status, 200, 'a token for shop-api passes at /shop-api/')
  t.equal((await shopOk.json() as { subject: string }).subject, 'shop-user')
  const ordersAtShop = await through('/shop-api/cart', `Bearer ${forOrders}`)
  t.equal(ordersAtShop.status, 401, 'the orders-api token is refused at /shop-api/')
  await ordersAtShop.arrayBuffer()
  const shopAtOrders = await through('/orders-api/items', `Bearer ${forShop}`)
  t.equal(shopAtOrders.status, 401, 'the shop-api token is refused at /orders-api/')
  await shopAtOrders.arrayBuffer()
  t.equal(seen.length, audienceCalls + 2, 'the refused ones never reached the upstream')
})
