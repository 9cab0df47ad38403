// The error handler, with its two wire formats: `{error, message}` everywhere,
// and RFC 6749 §5.2's `{error, error_description}` on the routes whose config
// says `errorFormat: 'oauth'` (routes/oauth marks all of its own), because
// OAuth client libraries parse that shape. Domain errors carry their code;
// Fastify's own 4xx errors (validation, body size, media type, bad JSON) get a
// stable code; anything else is a 500 whose details stay in the log, tied to
// the request id, in both formats.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, codeForStatus } from '../src/errors.js'
import { redactTokens } from '../src/main/redact.js'
import { OAuthError, toOAuthError } from '../src/oauth/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'oauth': errors are `{error, error_description}` (RFC 6749 §5.2). */
    errorFormat?: 'oauth'
  }
}

const BASIC_REALM = 'Basic realm="token-orchestrator", charset="UTF-8"'

type AnyError = FastifyError | AppError | OAuthError

/**
 * An error nothing explains: not a domain error, not a validation error, not a
 * 4xx from Fastify. Both formats answer it with a bare 500 and log it here.
 */
function unexpected (error: AnyError, request: FastifyRequest): boolean {
  if (error instanceof AppError || error instanceof OAuthError || error.validation !== undefined) return false
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) return false
  request.log.error({ err: error }, 'request failed')
  return true
}

export function errorBody (error: FastifyError | AppError): { status: number, body: { error: string, message: string } } {
  if (error instanceof AppError) {
    return { status: error.statusCode, body: { error: error.code, message: error.message } }
  }
  if (error.validation !== undefined) {
    return { status: 400, body: { error: 'invalid_request', message: error.message } }
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return { status, body: { error: codeForStatus(status), message: error.message } }
  }
  return { status: 500, body: { error: 'internal_error', message: 'internal server error' } }
}

function sendDefault (error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = errorBody(error)
  // A domain 5xx (the store is down) is logged too; the unexpected ones were already.
  if (status >= 500 && error instanceof AppError) request.log.error({ err: error }, 'request failed')
  if (error instanceof AppError && error.challenge !== undefined) {
    reply.header('www-authenticate', error.challenge)
  } else if (status === 401 && body.error === 'invalid_token') {
    reply.header('www-authenticate', 'Bearer error="invalid_token"')
  }
  if (error instanceof AppError && error.retryAfter !== undefined) {
    reply.header('retry-after', String(error.retryAfter))
  }
  return reply.code(status).send(body)
}

function sendOAuth (error: AnyError, reply: FastifyReply): FastifyReply {
  const err = error instanceof OAuthError ? error : error instanceof AppError ? toOAuthError(error) : null
  if (err !== null) {
    if (err.statusCode === 401 && err.basic) reply.header('www-authenticate', BASIC_REALM)
    if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
    return reply.code(err.statusCode).send({ error: err.code, error_description: err.message })
  }
  const fastifyError = error as FastifyError
  if (fastifyError.statusCode === 429) {
    return reply.code(429).send({ error: 'too_many_requests', error_description: fastifyError.message })
  }
  // Schema, media type, size and parse errors: RFC 6749 §5.2 calls all of them invalid_request (400).
  return reply.code(400).send({ error: 'invalid_request', error_description: fastifyError.message })
}

async function errorHandlerPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: AnyError, request: FastifyRequest, reply: FastifyReply) => {
    const oauth = request.routeOptions.config?.errorFormat === 'oauth'
    if (unexpected(error, request)) {
      return oauth
        ? reply.code(500).send({ error: 'server_error', error_description: 'internal server error' })
        : reply.code(500).send({ error: 'internal_error', message: 'internal server error' })
    }
    return oauth ? sendOAuth(error, reply) : sendDefault(error as FastifyError | AppError, request, reply)
  })
  fastify.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${redactTokens(request.url.split('?')[0] ?? '')}` })
  })
}

export default fp(errorHandlerPlugin, { name: 'error-handler', fastify: '5.x' })
