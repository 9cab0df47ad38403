// Benchmark peer: what a team writes for itself with @fastify/jwt. One
// validate route with the service's request and response schemas, verifying
// with @fastify/jwt's verified-token cache, logger off, no revocation check,
// no request ids, no metrics.
import Fastify from 'fastify'
import fastifyJwt, { type JWT } from '@fastify/jwt'
import type { Static, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Claims, ValidateBody, ValidationResult } from '../routes/schemas.js'

const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>()
await app.register(fastifyJwt, {
  secret: process.env.JWT_SECRET!,
  verify: { algorithms: ['HS256'], allowedIss: process.env.JWT_ISSUER!, allowedAud: process.env.JWT_AUDIENCE!, cache: true }
})

// The service declares `fastify.jwt` as its own two namespaces; this server has the plain one.
const jwt = (): JWT => app.jwt as unknown as JWT

app.post('/token/validate', {
  schema: { body: ValidateBody, response: { 200: ValidationResult } }
}, async (request, reply) => {
  reply.header('cache-control', 'no-store')
  try {
    return { valid: true, claims: jwt().verify<Static<typeof Claims>>(request.body.token) }
  } catch {
    return { valid: false, error: 'invalid_signature' as const }
  }
})

app.get('/health', async () => ({ status: 'ok' }))

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
