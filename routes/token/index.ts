// /token: validate (the hot path: verification and the revocation check are
// in memory, the answer is serialized from its schema) and revoke.
// `Cache-Control: no-store` comes from plugins/response-headers.ts, as on every
// answer under /token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import {
  BatchValidateBody, BatchValidateResponse, DpopForward, RevokeBody, RevokeResponse, ValidateBody, ValidationResult
} from '../schemas.js'
import { BATCH_FAILED_VERIFICATIONS, type AccessClaims } from '../../src/tokens/tokens.js'
import type { FastifyRequest } from 'fastify'
import { errors } from '../../plugins/schemas.js'

const tags = ['token']

const OVER_BUDGET = 'An address that spent RATE_LIMIT_FAILED_VERIFICATIONS failed verifications (forged signatures, ' +
  'DPoP proofs that do not hold) within the current second gets no further check until the second ends: '
const TOO_MANY_FAILURES = {
  description: 'This address spent its failed verifications for this second, and a token needed a check (with `Retry-After`)',
  error: 'too_many_requests',
  message: 'too many failed verifications from this address, retry in 1 s'
}

type Result = Static<typeof ValidationResult>

const tokenRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { tokens, liveAccess, serviceMetrics, dpop } = fastify
  const count = serviceMetrics.validation

  /** A DPoP-bound token: one proof verification and one replay claim (docs/security.md, DPoP). */
  const validateBound = async (
    request: FastifyRequest, token: string, claims: AccessClaims, forwarded: Static<typeof DpopForward> | undefined
  ): Promise<Result> => {
    if (forwarded !== undefined) liveAccess.beforeProof(token, request)
    const binding = await dpop.forwarded(claims.cnf, token, forwarded)
    if (binding !== null && !binding.ok) {
      if (binding.error === 'invalid_dpop_proof') liveAccess.proofFailed(request)
      count(binding.error)
      return { valid: false, error: binding.error, message: binding.message }
    }
    count('valid')
    return { valid: true, claims }
  }

  const notVerified: Result = { valid: false, error: 'not_verified' }

  // Synchronous for every token that is not DPoP-bound: the hot path pays one property read for DPoP.
  // Throws TooManyFailedVerifications (429) for a token that needs a check from an address over its budget.
  const validate = (request: FastifyRequest, token: string, forwarded?: Static<typeof DpopForward>): Result | Promise<Result> => {
    const verified = liveAccess.verify(token, request)
    if (!verified.ok) {
      count(verified.error)
      return { valid: false, error: verified.error }
    }
    if (verified.claims.cnf !== undefined) return validateBound(request, token, verified.claims, forwarded)
    count('valid')
    return { valid: true, claims: verified.claims }
  }

  fastify.post('/token/validate', {
    schema: {
      tags,
      summary: 'Validate an access token',
      description: 'Answers 200 with `{valid: true, claims}` or `{valid: false, error}`; 400 when the body ' +
        'itself is invalid. Never waits on the store: revocations are checked against the in-memory view that ' +
        'follows the store (about a second behind at most). No request rate limit. A DPoP-bound token (`cnf.jkt`) is ' +
        'valid only with `dpop`: the proof its holder sent to the resource server, and that request\'s method and ' +
        'URL; the proof is checked (key, `ath`, `htm`, `htu`, `iat`) and accepted once across every instance, ' +
        'which is this route\'s one store round trip (503 when the store cannot be reached). ' + OVER_BUDGET +
        'a token that would need one (or a DPoP proof) is answered 429.',
      body: ValidateBody,
      response: {
        200: ValidationResult,
        ...errors({ 400: 'The body does not match the schema', 429: TOO_MANY_FAILURES, 503: 'A DPoP proof came and its replay cannot be checked: the store is unreachable' })
      }
    }
  }, async (request) => {
    const body = request.body
    return validate(request, body.token, body.dpop)
  })

  fastify.post('/token/validate/batch', {
    schema: {
      tags,
      summary: 'Validate up to 100 access tokens',
      description: 'One result per token, in the order given, each as `POST /token/validate` would answer it. ' +
        `A DPoP-bound token comes as \`{token, dpop}\`. After ${BATCH_FAILED_VERIFICATIONS} failed verifications (signatures or DPoP proofs), ` +
        'later tokens this instance has not verified before, and every later `{token, dpop}` item, are answered ' +
        '`not_verified` without being checked. ' + OVER_BUDGET + 'the items that would need one answer `not_verified`.',
      body: BatchValidateBody,
      response: {
        200: BatchValidateResponse,
        ...errors({ 400: 'The body does not match the schema', 503: 'A DPoP proof came and its replay cannot be checked: the store is unreachable' })
      }
    }
  }, async (request) => {
    let failed = 0
    const results: Result[] = []
    for (const item of request.body.tokens) {
      const token = typeof item === 'string' ? item : item.token
      // Past the batch's budget, a token this instance has not verified yet is not checked, nor is any DPoP
      // proof; nor is what would need a check while the address is past its own budget.
      if ((failed >= BATCH_FAILED_VERIFICATIONS && (typeof item !== 'string' || !tokens.isVerified(token))) ||
        liveAccess.wait(token, request, typeof item !== 'string') !== null) {
        count('not_verified')
        results.push(notVerified)
        continue
      }
      const result = validate(request, token, typeof item === 'string' ? undefined : item.dpop)
      if (result instanceof Promise) {
        // A bound token's proof is verified before the next item is looked at, so that it counts.
        const settled = await result
        if (settled.error === 'invalid_dpop_proof') failed += 1
        results.push(settled)
      } else {
        if (result.error === 'invalid_signature') failed += 1
        results.push(result)
      }
    }
    return { results }
  })

  fastify.post('/token/revoke', {
    schema: {
      tags,
      summary: 'Revoke an access or refresh token',
      description: 'A refresh token ends its session; an access token is refused (by jti) until it expires. ' +
        'A garbage or unknown token is not an error: `{revoked: false}` (RFC 7009). A DPoP-bound token (or a ' +
        'refresh token of a DPoP-bound session) is revoked only with a `DPoP` proof from its key for this request. ' +
        'A confidential client\'s tokens are revoked at `/oauth/revoke`, where the client authenticates (401 here).',
      body: RevokeBody,
      response: {
        200: RevokeResponse,
        ...errors({
          400: {
            description: 'The body does not match the schema, or the token is DPoP-bound and the request has no proof from its key (`invalid_dpop_proof`)',
            error: 'invalid_dpop_proof',
            message: 'the access token is DPoP-bound: revoke it with a DPoP proof from its key'
          },
          401: {
            description: 'The token belongs to a confidential client: revoke it at `/oauth/revoke`, where that client authenticates',
            error: 'invalid_client',
            message: 'the token belongs to a confidential client: revoke it at /oauth/revoke with that client\'s authentication'
          },
          503: 'The store is unreachable; nothing was written'
        })
      }
    }
  }, async (request, reply) => {
    const jkt = await fastify.dpopTokenRequest(request, reply)
    return fastify.auth.revoke(request.body.token, request.body.token_type_hint, jkt)
  })
}

export default tokenRoutes
