// The hot routes with the service's request and response schemas, answering
// constant bodies: what the ceiling (bench/ceiling.ts) and the floor
// (bench/floor.ts) serve, so that only the server around them differs.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ErrorResponseSchema, errors } from '../plugins/schemas.js'
import { BatchValidateBody, BatchValidateResponse, NoContent, ValidateBody, ValidationResult, VerifyQuery } from '../routes/schemas.js'

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

export function constantRoutes (fastify: FastifyInstance, opts: { cacheControl: boolean }): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  // The error responses refer to the shared error schema, as in the service.
  app.addSchema(ErrorResponseSchema)

  app.post('/token/validate', {
    schema: { body: ValidateBody, response: { 200: ValidationResult, ...errors({ 400: 'The body does not match the schema' }) } }
  }, async (_request, reply) => {
    if (opts.cacheControl) reply.header('cache-control', 'no-store')
    return { valid: true, claims }
  })

  app.post('/token/validate/batch', {
    schema: { body: BatchValidateBody, response: { 200: BatchValidateResponse, ...errors({ 400: 'The body does not match the schema' }) } }
  }, async (request, reply) => {
    if (opts.cacheControl) reply.header('cache-control', 'no-store')
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
}
