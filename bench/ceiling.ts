// The benchmark's ceiling: a bare `Fastify({ logger: false })` serving the hot
// routes with the service's request and response schemas, answering constant
// bodies. Nothing else: no hooks, no request ids, no logger, none of the
// service's server options. Whatever the service loses against it is the cost
// of everything it does beyond routing, validating and serializing.
import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  BatchValidateBody, BatchValidateResponse, ErrorResponseSchema, errors, NoContent, ValidateBody, ValidationResult, VerifyQuery
} from '../routes/schemas.js'

const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>()
// The error responses refer to the shared error schema, as in the service.
app.addSchema(ErrorResponseSchema)

const now = Math.floor(Date.now() / 1000)
const claims = {
  iss: 'token-orchestrator',
  sub: 'bench-user-00000000000000000000',
  aud: 'token-orchestrator',
  iat: now,
  exp: now + 900,
  jti: 'AAAAAAAAAAAAAAAAAAAAAA',
  sid: 'BBBBBBBBBBBBBBBBBBBBBB',
  client_id: 'default',
  scope: 'orders:read orders:write',
  roles: [] as string[]
}

app.post('/token/validate', {
  schema: { body: ValidateBody, response: { 200: ValidationResult, ...errors({ 400: 'The body does not match the schema' }) } }
}, async (_request, reply) => {
  reply.header('cache-control', 'no-store')
  return { valid: true, claims }
})

app.post('/token/validate/batch', {
  schema: { body: BatchValidateBody, response: { 200: BatchValidateResponse, ...errors({ 400: 'The body does not match the schema' }) } }
}, async (request, reply) => {
  reply.header('cache-control', 'no-store')
  return { results: request.body.tokens.map(() => ({ valid: true, claims })) }
})

app.all('/auth/verify', {
  schema: {
    querystring: VerifyQuery,
    response: { 200: NoContent, ...errors({ 400: 'query', 401: 'token', 403: 'scope' }) }
  }
}, async (_request, reply) => {
  return reply.headers({
    'x-auth-subject': claims.sub,
    'x-auth-session': claims.sid,
    'x-auth-client': claims.client_id,
    'x-auth-scope': claims.scope
  }).code(200).send()
})

app.get('/health', async () => ({ status: 'ok' }))

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
