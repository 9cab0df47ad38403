// The one error handler: every error leaves as `{error, message}` with its
// status. Domain errors carry their code; Fastify's own 4xx errors (validation,
// body size, media type, bad JSON) get a stable code; anything else is a 500
// whose details stay in the log, tied to the request id.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../src/errors.js'
import { redactTokens } from '../src/redact.js'

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'request_header_fields_too_large'
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
    return { status, body: { error: CODE_BY_STATUS[status] ?? 'invalid_request', message: error.message } }
  }
  return { status: 500, body: { error: 'internal_error', message: 'internal server error' } }
}

async function errorHandlerPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = errorBody(error)
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else if (status === 401 && body.error === 'invalid_token') {
      reply.header('www-authenticate', 'Bearer error="invalid_token"')
    }
    if (error instanceof AppError && error.retryAfter !== undefined) {
      reply.header('retry-after', String(error.retryAfter))
    }
    return reply.code(status).send(body)
  })
  fastify.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${redactTokens(request.url.split('?')[0] ?? '')}` })
  })
}

export default fp(errorHandlerPlugin, { name: 'error-handler', fastify: '5.x' })
