// The benchmark's ceiling: a bare Fastify server with the service's own server
// options (same logger, same request-logging choice, same ajv settings) and
// the same routes, request schemas and response schemas, answering constant
// bodies without verifying anything. Whatever the service loses against it is
// the cost of the real work (verification, revocation check, metrics hooks).
import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { loadConfig } from '../src/main/config.js'
import { serverOptions } from '../src/main/server-options.js'
import { BatchValidateBody, BatchValidateResponse, ValidateBody, ValidationResult, VerifyQuery } from '../routes/schemas.js'

const config = loadConfig(process.env)
const app = Fastify(serverOptions(config)).withTypeProvider<TypeBoxTypeProvider>()

const now = Math.floor(Date.now() / 1000)
const claims = {
  iss: config.JWT_ISSUER,
  sub: 'bench-user-00000000000000000000',
  aud: config.JWT_AUDIENCE,
  iat: now,
  exp: now + 900,
  jti: 'AAAAAAAAAAAAAAAAAAAAAA',
  sid: 'BBBBBBBBBBBBBBBBBBBBBB',
  client_id: 'default',
  scope: 'orders:read orders:write',
  roles: [] as string[]
}

app.post('/token/validate', {
  schema: { body: ValidateBody, response: { 200: ValidationResult } }
}, async (_request, reply) => {
  reply.header('cache-control', 'no-store')
  return { valid: true, claims }
})

app.post('/token/validate/batch', {
  schema: { body: BatchValidateBody, response: { 200: BatchValidateResponse } }
}, async (request, reply) => {
  reply.header('cache-control', 'no-store')
  return { results: request.body.tokens.map(() => ({ valid: true, claims })) }
})

app.all('/auth/verify', { schema: { querystring: VerifyQuery } }, async (_request, reply) => {
  return reply.headers({
    'x-auth-subject': claims.sub,
    'x-auth-session': claims.sid,
    'x-auth-client': claims.client_id,
    'x-auth-scope': claims.scope
  }).code(200).send()
})

app.get('/health', async () => ({ status: 'ok' }))

await app.listen({ port: config.PORT, host: config.HOST })
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
