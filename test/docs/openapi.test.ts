// The OpenAPI document at /docs/json: valid OpenAPI 3 (checked by an
// independent validator), complete for operators, and truthful: each
// operation is called with its own examples and must answer with a status it
// documents, in the shape it documents, and ask for the credentials it says.
// Generic over the routes that exist, so routes added later are held to it too.
import t from 'tap'
import { Ajv, type ValidateFunction } from 'ajv'
import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { build, newSession } from '../helper.js'
import { loadConfig } from '../../src/main/config.js'

interface Media { schema?: Schema, example?: unknown, examples?: Record<string, { value: unknown }> }
type Schema = Record<string, unknown>
interface Response { description?: string, content?: Record<string, Media>, headers?: Record<string, unknown> }
interface Parameter { name: string, in: string, required?: boolean, example?: unknown, schema?: Schema }
interface Operation {
  summary?: string
  description?: string
  tags?: string[]
  security?: Array<Record<string, string[]>>
  parameters?: Parameter[]
  requestBody?: { required?: boolean, content: Record<string, Media> }
  responses: Record<string, Response>
}
interface Document {
  openapi: string
  tags?: Array<{ name: string }>
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes?: Record<string, Record<string, unknown>>, schemas?: Record<string, Schema> }
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/** Operations the service promises; the document must hold at least these (more are welcome). */
const PROMISED_OPERATIONS = [
  'post /auth/register', 'post /auth/login', 'post /auth/refresh', 'post /auth/logout', 'post /auth/logout-all',
  'post /token/validate', 'post /token/validate/batch', 'post /token/revoke',
  'get /auth/verify', 'get /health', 'get /ready'
]

function operations (doc: Document): Array<{ id: string, method: string, path: string, op: Operation }> {
  const out = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op !== undefined) out.push({ id: `${method} ${path}`, method, path, op })
    }
  }
  return out
}

function examplesOf (media: Media): unknown[] {
  const out: unknown[] = []
  if (media.example !== undefined) out.push(media.example)
  for (const e of Object.values(media.examples ?? {})) out.push(e.value)
  return out
}

async function getDocument (app: FastifyInstance): Promise<Document> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`/docs/json answered ${res.statusCode}`)
  return res.json()
}

t.test('the document is valid OpenAPI 3', async (t) => {
  const app = await build(t)
  const doc = await getDocument(app)
  const validator = new Validator()
  const result = await validator.validate(doc as unknown as Record<string, unknown>)
  t.same(result.errors, undefined, 'no validation errors')
  t.equal(result.valid, true)
  t.match(validator.version, /^3\./)

  const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' })
  t.equal(yaml.statusCode, 200, 'the YAML form is served too')
  t.match(yaml.body, /^openapi: 3\./m)
})

t.test('every operation is documented for operators', async (t) => {
  const app = await build(t)
  const doc = await getDocument(app)
  const ops = operations(doc)
  const ids = new Set(ops.map((o) => o.id))
  for (const id of PROMISED_OPERATIONS) t.ok(ids.has(id), `${id} is in the document`)
  t.notOk(Object.keys(doc.paths).some((p) => p === '/docs' || p.startsWith('/docs/')), "Swagger UI's own routes are hidden")

  const declaredTags = new Set((doc.tags ?? []).map((tag) => tag.name))
  const schemes = doc.components.securitySchemes ?? {}
  t.match(schemes.bearerAuth, { type: 'http', scheme: 'bearer' }, 'bearerAuth scheme')
  t.match(schemes.clientBasic, { type: 'http', scheme: 'basic' }, 'clientBasic scheme')
  t.ok(doc.components.schemas?.ErrorResponse, 'one shared ErrorResponse schema')
  t.ok(doc.components.schemas?.OAuthError, 'one shared OAuthError schema (RFC 6749 §5.2, for /oauth)')

  for (const { id, method, path, op } of ops) {
    t.test(id, async (t) => {
      t.ok(app.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }),
        'the documented operation is a real route')
      t.ok(op.summary !== undefined && op.summary.length > 0, 'has a summary')
      t.ok(op.description !== undefined && op.description.length > 0, 'has a description')
      t.ok(op.tags !== undefined && op.tags.length > 0, 'has a tag')
      for (const tag of op.tags ?? []) t.ok(declaredTags.has(tag), `tag ${tag} is declared with a description`)
      for (const requirement of op.security ?? []) {
        for (const name of Object.keys(requirement)) t.ok(schemes[name], `security scheme ${name} exists`)
      }

      const statuses = Object.keys(op.responses)
      t.ok(statuses.some((s) => /^2\d\d$/.test(s)), 'declares a 2xx answer')
      // An operation that takes input (a body, parameters or credentials) can be
      // refused; /health and /ready take none, so they declare no 4xx.
      const takesInput = op.requestBody !== undefined || (op.parameters ?? []).length > 0 || (op.security ?? []).length > 0
      if (takesInput) t.ok(statuses.some((s) => /^4\d\d$/.test(s)), 'declares a 4xx answer')
      // /oauth answers errors as RFC 6749 §5.2 `{error, error_description}`
      // (OAuthError); everything else as `{error, message}` (ErrorResponse).
      const [errorSchema, otherErrorSchema] = path.startsWith('/oauth/')
        ? ['OAuthError', 'ErrorResponse']
        : ['ErrorResponse', 'OAuthError']
      for (const [status, response] of Object.entries(op.responses)) {
        t.ok(response.description !== undefined && response.description !== 'Default Response',
          `${status} has its own description`)
        if (status !== '204' && response.content === undefined) {
          // Only the gateway's 200, RFC 7009 revocation's 200 and 204s answer with an empty body.
          t.ok((path === '/auth/verify' || id === 'post /oauth/revoke') && status === '200', `${status} declares a body schema`)
        }
        for (const media of Object.values(response.content ?? {})) {
          t.ok(media.schema, `${status} has a schema`)
          t.ok(examplesOf(media).length > 0, `${status} has an example`)
        }
        if (/^4|^5/.test(status)) {
          t.match(JSON.stringify(response.content), `"#/components/schemas/${errorSchema}"`, `${status} uses ${errorSchema}`)
          t.notMatch(JSON.stringify(response.content), `"#/components/schemas/${otherErrorSchema}"`, `${status} does not use ${otherErrorSchema}`)
        }
      }
      if (op.requestBody !== undefined) {
        for (const [type, media] of Object.entries(op.requestBody.content)) {
          t.ok(examplesOf(media).length > 0, `request body (${type}) has an example`)
        }
      }
    })
  }
})

/** Ajv for the Schema Objects of an OpenAPI 3.0 document (which adds `example`, `nullable`). */
function schemaValidator (doc: Document): (schema: Schema) => ValidateFunction {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
  ajv.addSchema({ components: doc.components }, 'openapi')
  const cache = new Map<Schema, ValidateFunction>()
  return (schema) => {
    let fn = cache.get(schema)
    if (fn === undefined) {
      // Local refs (#/components/...) point into the document registered above.
      const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as Schema
      fn = ajv.compile(rewritten)
      cache.set(schema, fn)
    }
    return fn
  }
}

t.test('every example matches its schema', async (t) => {
  const app = await build(t)
  const doc = await getDocument(app)
  const compile = schemaValidator(doc)
  let checked = 0
  for (const { id, op } of operations(doc)) {
    const media: Array<[string, Media]> = []
    for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) media.push([`${id} request ${type}`, m])
    for (const [status, r] of Object.entries(op.responses)) {
      for (const [type, m] of Object.entries(r.content ?? {})) media.push([`${id} ${status} ${type}`, m])
    }
    for (const [where, m] of media) {
      if (m.schema === undefined) continue
      const check = compile(m.schema)
      for (const example of examplesOf(m)) {
        checked += 1
        t.ok(check(example), `${where}: example matches`, { errors: check.errors })
      }
    }
  }
  t.ok(checked > 20, `checked ${checked} examples`)
})

function requestFor (op: Operation, method: string, path: string, body: unknown, headers: Record<string, string> = {}): InjectOptions {
  let url = path
  const query = new URLSearchParams()
  for (const p of op.parameters ?? []) {
    const value = p.example ?? p.schema?.example ?? (p.in === 'path' ? 'example' : undefined)
    if (value === undefined) continue
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(value)))
    if (p.in === 'query') query.set(p.name, String(value))
  }
  if (query.size > 0) url += `?${query.toString()}`
  const request: InjectOptions = { method: method.toUpperCase() as 'GET', url, headers: { ...headers } }
  if (body !== undefined) {
    const types = Object.keys(op.requestBody?.content ?? {})
    if (types.includes('application/json') || types.length === 0) {
      request.payload = JSON.stringify(body)
      request.headers = { ...request.headers, 'content-type': 'application/json' }
    } else {
      request.payload = new URLSearchParams(body as Record<string, string>).toString()
      request.headers = { ...request.headers, 'content-type': 'application/x-www-form-urlencoded' }
    }
  }
  return request
}

t.test('operations answer as documented when called with their examples', async (t) => {
  const app = await build(t)
  const doc = await getDocument(app)
  const compile = schemaValidator(doc)

  for (const { id, method, path, op } of operations(doc)) {
    t.test(id, async (t) => {
      // A session of its own: some operations (logout-all) end the caller's sessions.
      const session = await newSession(app)
      const requestExample = op.requestBody === undefined
        ? undefined
        : examplesOf(Object.values(op.requestBody.content)[0] ?? {})[0]
      const security = op.security ?? []
      const bearerRequired = security.length > 0 && security.every((r) => 'bearerAuth' in r)

      const check = async (label: string, request: InjectOptions): Promise<{ status: number, wwwAuthenticate: string }> => {
        const res = await app.inject(request)
        const status = String(res.statusCode)
        const documented = op.responses[status]
        t.ok(documented, `${label}: ${status} is a documented answer`, { body: res.body })
        const media = documented?.content?.['application/json']
        if (media?.schema !== undefined && method !== 'head') {
          const validateBody = compile(media.schema)
          t.ok(validateBody(res.json()), `${label}: the ${status} body matches its schema`, { body: res.body, errors: validateBody.errors })
        }
        return { status: res.statusCode, wwwAuthenticate: String(res.headers['www-authenticate'] ?? '') }
      }

      // 1. The example, with no credentials.
      const anonymous = await check('example without credentials', requestFor(op, method, path, requestExample))
      if (anonymous.status === 401 && anonymous.wwwAuthenticate.startsWith('Bearer')) {
        t.ok(security.some((r) => 'bearerAuth' in r), 'asks for a bearer token, so it declares bearerAuth')
      }
      if (anonymous.status === 401 && anonymous.wwwAuthenticate.startsWith('Basic')) {
        t.ok(security.some((r) => 'clientBasic' in r), 'asks for client credentials, so it declares clientBasic')
      }
      if (bearerRequired) {
        t.equal(anonymous.status, 401, 'declares bearerAuth, so it refuses a request without a token')
        t.match(anonymous.wwwAuthenticate, /^Bearer /, 'with WWW-Authenticate: Bearer')
      }

      // 2. With a user's access token.
      if (security.some((r) => 'bearerAuth' in r)) {
        const withToken = await check('example with an access token',
          requestFor(op, method, path, requestExample, { authorization: `Bearer ${session.access_token}` }))
        t.not(withToken.status, 401, 'a valid access token is accepted')
      }

      // 3. A body that does not match the schema.
      if (op.requestBody !== undefined) {
        const bad = await check('empty body', requestFor(op, method, path, {}))
        t.ok(bad.status === 400 || bad.status === 401, 'an empty body is refused')
      }
    })
  }
})

t.test('DOCS=off serves neither Swagger UI nor the document; production warns while they are public', async (t) => {
  const app = await build(t, { env: { DOCS: 'off' } })
  for (const url of ['/docs', '/docs/json', '/docs/static/index.html']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, `${url} is not served`)
  }
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'the rest is')
  const warnings: string[] = []
  const production = { NODE_ENV: 'production', JWT_SECRET: 'Zk3v9QdM2rT8wLzX4nB7pAq1s5u7w9y0', REFRESH_TOKEN_SECRET: 'kV2pN8rQ4tW6yZ1bD3fG5hJ7lM9nP0qR', METRICS_TOKEN: 'a-metrics-token-0123456789' }
  loadConfig(production, (w) => warnings.push(w))
  t.match(warnings, [/DOCS is public/])
  const off: string[] = []
  loadConfig({ ...production, DOCS: 'off' }, (w) => off.push(w))
  t.same(off, [])
})
