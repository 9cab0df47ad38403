// /token: validate (the hot path: verification and the revocation check are
// in memory, the answer is serialized from its schema) and revoke.
// `Cache-Control: no-store` comes from plugins/response-headers.ts, as on every
// answer under /token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import {
  BatchValidateBody, BatchValidateResponse, RevokeBody, RevokeResponse, ValidateBody, ValidationResult
} from '../schemas.js'
import { verifyLiveAccess } from '../../src/tokens/tokens.js'
import { errors } from '../../plugins/schemas.js'

const tags = ['token']

const tokenRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { tokens, revocations, serviceMetrics } = fastify
  const count = serviceMetrics.validation

  const validate = (token: string): Static<typeof ValidationResult> => {
    const verified = verifyLiveAccess(tokens, revocations, token)
    if (!verified.ok) {
      count(verified.error)
      return { valid: false, error: verified.error }
    }
    count('valid')
    return { valid: true, claims: verified.claims }
  }

  fastify.post('/token/validate', {
    schema: {
      tags,
      summary: 'Validate an access token',
      description: 'Answers 200 with `{valid: true, claims}` or `{valid: false, error}`; 400 only when the body ' +
        'itself is invalid. Never waits on the store: revocations are checked against the in-memory view that ' +
        'follows the store (about a second behind at most). Not rate limited.',
      body: ValidateBody,
      response: { 200: ValidationResult, ...errors({ 400: 'The body does not match the schema' }) }
    }
  }, async (request) => {
    return validate(request.body.token)
  })

  fastify.post('/token/validate/batch', {
    schema: {
      tags,
      summary: 'Validate up to 100 access tokens',
      description: 'One result per token, in the order given, each as `POST /token/validate` would answer it.',
      body: BatchValidateBody,
      response: { 200: BatchValidateResponse, ...errors({ 400: 'The body does not match the schema' }) }
    }
  }, async (request) => {
    return { results: request.body.tokens.map(validate) }
  })

  fastify.post('/token/revoke', {
    schema: {
      tags,
      summary: 'Revoke an access or refresh token',
      description: 'A refresh token ends its session; an access token is refused (by jti) until it expires. ' +
        'A garbage or unknown token is not an error: `{revoked: false}` (RFC 7009).',
      body: RevokeBody,
      response: {
        200: RevokeResponse,
        ...errors({ 400: 'The body does not match the schema', 503: 'The store is unreachable; nothing was written' })
      }
    }
  }, async (request) => {
    return fastify.auth.revoke(request.body.token, request.body.token_type_hint)
  })
}

export default tokenRoutes
