// The two error bodies, shared by reference across routes (`$ref:
// 'ErrorResponse#'`, `$ref: 'OAuthError#'`), and the builders routes use to
// document their error statuses (errors() and oauthErrors()). Registered on
// the root instance before any route, so every route's validator and
// serializer can resolve them, and @fastify/swagger emits each once under
// components.schemas. Routes import from here, never the other way round.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Type, type TSchema } from '@sinclair/typebox'

const errorShape = {
  error: Type.String({ description: 'Machine-readable code', examples: ['invalid_request'] }),
  message: Type.String({ description: 'Human-readable explanation', examples: ['body must have required property \'token\''] })
}

/**
 * The `{error, message}` body as a shared schema: registered below with
 * `addSchema`, and every error response refers to it, so the OpenAPI document
 * has one `components.schemas.ErrorResponse`.
 */
export const ErrorResponseSchema = Type.Object(errorShape, {
  $id: 'ErrorResponse',
  title: 'ErrorResponse',
  description: 'Every error answer: a stable machine code and a human-readable message. No stack, driver error or token text.'
})

/** The example body most answers with this status carry (what the service really sends). */
const EXAMPLE_BY_STATUS: Record<number, { error: string, message: string }> = {
  400: { error: 'invalid_request', message: 'body must have required property \'token\'' },
  401: { error: 'invalid_token', message: 'a bearer access token is required' },
  403: { error: 'forbidden', message: 'forbidden' },
  404: { error: 'not_found', message: 'not found' },
  429: { error: 'too_many_requests', message: 'rate limit exceeded, retry in 42 s' },
  500: { error: 'internal_error', message: 'internal server error' },
  503: { error: 'store_unavailable', message: 'the token store is unavailable, try again later' }
}

/** The headers plugins/error-handler.ts (and the rate limiter) add to some errors. */
function errorHeaders (status: number, code: string): { headers: Record<string, unknown> } | undefined {
  if (status === 429) {
    return { headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before trying again' } } }
  }
  if (status === 401 && code === 'invalid_token') {
    return { headers: { 'www-authenticate': { type: 'string', description: '`Bearer error="invalid_token"`' } } }
  }
  if (status === 401 && code === 'invalid_client') {
    return { headers: { 'www-authenticate': { type: 'string', description: '`Basic realm="token-orchestrator", charset="UTF-8"`' } } }
  }
  return undefined
}

/** An error status: a description, or a description with the example body it answers. */
export type ErrorDoc = string | { description: string, error: string, message: string }

/** How one error family (`{error, message}` here, OAuth's `{error, error_description}`) is documented. */
export interface ErrorFamily<E extends { error: string }> {
  /** The shared component schema the responses refer to, e.g. 'ErrorResponse#'. */
  ref: string
  /** The example body of a status documented by a description alone. */
  exampleFor: (status: number, description: string) => E
  headersFor: (status: number, example: E) => { headers: Record<string, unknown> } | undefined
}

/**
 * Responses for the given statuses, each referring to the family's shared
 * schema, with its own description and example. allOf rather than a bare $ref:
 * OpenAPI 3.0 ignores (and @fastify/swagger drops) the siblings of a $ref, and
 * the description and example are per status.
 */
export function errorResponses<S extends number, E extends { error: string }> (
  family: ErrorFamily<E>, statuses: Record<S, string | (E & { description: string })>
): Record<S, TSchema> {
  const out = {} as Record<S, TSchema>
  for (const [key, doc] of Object.entries(statuses) as Array<[string, string | (E & { description: string })]>) {
    const status = Number(key)
    let description: string
    let example: E
    if (typeof doc === 'string') {
      description = doc
      example = family.exampleFor(status, doc)
    } else {
      const { description: d, ...body } = doc
      description = d
      example = body as unknown as E
    }
    out[status as S] = Type.Unsafe({
      allOf: [{ $ref: family.ref }],
      description,
      examples: [example],
      ...(family.headersFor(status, example) ?? {})
    })
  }
  return out
}

const ERROR_RESPONSE: ErrorFamily<{ error: string, message: string }> = {
  ref: 'ErrorResponse#',
  exampleFor: (status, description) => EXAMPLE_BY_STATUS[status] ?? { error: 'invalid_request', message: description },
  headersFor: (status, example) => errorHeaders(status, example.error)
}

/** `{error, message}` responses for the given statuses (the shared ErrorResponse schema). */
export function errors<S extends number> (statuses: Record<S, ErrorDoc>): Record<S, TSchema> {
  return errorResponses(ERROR_RESPONSE, statuses)
}

const oauthErrorShape = {
  error: Type.String({
    description: 'RFC 6749 §5.2 code: invalid_request, invalid_client, invalid_grant, unauthorized_client, ' +
      'unsupported_grant_type, invalid_scope, invalid_target, too_many_requests, temporarily_unavailable or server_error',
    examples: ['invalid_client']
  }),
  error_description: Type.String({ description: 'Human-readable explanation', examples: ['client authentication failed'] })
}

/**
 * The RFC 6749 §5.2 error body as a shared schema: registered below with
 * `addSchema`, and every /oauth error response refers to it,
 * so the OpenAPI document has one `components.schemas.OAuthError`.
 */
export const OAuthErrorSchema = Type.Object(oauthErrorShape, {
  $id: 'OAuthError',
  title: 'OAuthError',
  description: 'Every error answer under /oauth (RFC 6749 §5.2), which OAuth client libraries parse: a code and ' +
    'a human-readable explanation. No stack, driver error or token text.'
})

/** The example body most /oauth answers with this status carry (what the service really sends). */
const OAUTH_EXAMPLE_BY_STATUS: Record<number, { error: string, error_description: string }> = {
  400: { error: 'invalid_request', error_description: 'token is required' },
  401: { error: 'invalid_client', error_description: 'client authentication failed' },
  429: { error: 'too_many_requests', error_description: 'rate limit exceeded, retry in 42 s' },
  500: { error: 'server_error', error_description: 'internal server error' },
  503: { error: 'temporarily_unavailable', error_description: 'the token store is unavailable, try again later' }
}

/** The headers the OAuth error format (and the rate limiter) add to some errors. */
function oauthErrorHeaders (status: number): { headers: Record<string, unknown> } | undefined {
  if (status === 429) {
    return { headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before trying again' } } }
  }
  if (status === 401) {
    return {
      headers: {
        'www-authenticate': {
          type: 'string',
          description: '`Basic realm="token-orchestrator", charset="UTF-8"` when the client used HTTP Basic'
        }
      }
    }
  }
  return undefined
}

/** An /oauth error status: a description, or a description with the example body it answers. */
export type OAuthErrorDoc = string | { description: string, error: string, error_description: string }

const OAUTH_ERROR: ErrorFamily<{ error: string, error_description: string }> = {
  ref: 'OAuthError#',
  exampleFor: (status, description) =>
    OAUTH_EXAMPLE_BY_STATUS[status] ?? { error: 'invalid_request', error_description: description },
  headersFor: (status) => oauthErrorHeaders(status)
}

/** `{error, error_description}` responses for the given statuses (the shared OAuthError schema). */
export function oauthErrors<S extends number> (statuses: Record<S, OAuthErrorDoc>): Record<S, TSchema> {
  return errorResponses(OAUTH_ERROR, statuses)
}

async function schemasPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ErrorResponseSchema)
  // /oauth answers RFC 6749 §5.2 `{error, error_description}` instead.
  fastify.addSchema(OAuthErrorSchema)
}

export default fp(schemasPlugin, { name: 'schemas', fastify: '5.x' })
