// Domain errors: a machine code and an HTTP status, mapped to `{error, message}`
// by the one error handler. Anything that is not an AppError becomes a 500
// whose details stay in the log.
export type ErrorCode =
  | 'invalid_request'
  | 'username_taken'
  | 'registration_closed'
  | 'invalid_credentials'
  | 'too_many_requests'
  | 'invalid_grant'
  | 'invalid_client'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'store_unavailable'
  | 'rate_limit_unavailable'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  username_taken: 409,
  registration_closed: 403,
  invalid_credentials: 401,
  too_many_requests: 429,
  invalid_grant: 401,
  invalid_client: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  store_unavailable: 503,
  rate_limit_unavailable: 503,
  // At a token endpoint (RFC 9449 §5); a resource route answers 401 with a challenge instead.
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400
}

/** The code of a 4xx that no AppError names (Fastify's own, or one Node's HTTP parser refuses). */
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

export function codeForStatus (status: number): string {
  return CODE_BY_STATUS[status] ?? 'invalid_request'
}

export class AppError extends Error {
  readonly statusCode: number
  /** Seconds, for 429 answers. */
  readonly retryAfter?: number
  /** A `WWW-Authenticate` challenge (a resource route's DPoP refusal): the answer is 401 with it. */
  readonly challenge?: string

  constructor (readonly code: ErrorCode, message: string, opts: { retryAfter?: number, challenge?: string } = {}) {
    super(message)
    this.name = 'AppError'
    this.statusCode = opts.challenge !== undefined ? 401 : STATUS[code]
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter
    if (opts.challenge !== undefined) this.challenge = opts.challenge
  }
}

/** Raised by store adapters when the database cannot be reached or times out. */
export class StoreUnavailableError extends AppError {
  constructor (cause?: unknown) {
    super('store_unavailable', 'the token store is unavailable, try again later')
    this.name = 'StoreUnavailableError'
    if (cause !== undefined) this.cause = cause
  }
}

/**
 * Raised when the shared counters (Redis) cannot be reached or time out: a
 * credential check that cannot be counted is refused (fails closed), before
 * any argon2 work.
 */
export class RateLimitUnavailableError extends AppError {
  constructor (cause?: unknown) {
    super('rate_limit_unavailable', 'the rate limit counters are unavailable, try again later')
    this.name = 'RateLimitUnavailableError'
    if (cause !== undefined) this.cause = cause
  }
}
