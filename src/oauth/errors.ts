// OAuth errors: RFC 6749 §5.2's codes with their statuses, and the mapping of
// a domain error met inside an OAuth endpoint to its OAuth form. The wire
// format `{error, error_description}` is written by plugins/error-handler.ts.
import { AppError } from '../errors.js'

export type OAuthErrorCode =
  | 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client'
  | 'unsupported_grant_type' | 'invalid_scope' | 'invalid_target' | 'temporarily_unavailable' | 'too_many_requests' | 'server_error'
  | 'invalid_dpop_proof' | 'use_dpop_nonce'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  temporarily_unavailable: 503,
  too_many_requests: 429,
  server_error: 500,
  // RFC 9449 §5 and §8: token endpoint errors.
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400
}

export class OAuthError extends Error {
  readonly statusCode: number

  /** `basic`: the client tried HTTP Basic, so a 401 carries `WWW-Authenticate: Basic` (§5.2). */
  constructor (readonly code: OAuthErrorCode, message: string, readonly basic = false, readonly retryAfter?: number) {
    super(message)
    this.name = 'OAuthError'
    this.statusCode = STATUS[code]
  }
}

/** Maps a domain error met inside an OAuth endpoint to its OAuth form. */
export function toOAuthError (err: AppError): OAuthError {
  switch (err.code) {
    case 'invalid_grant':
    case 'invalid_credentials':
      return new OAuthError('invalid_grant', err.message)
    case 'too_many_requests':
      return new OAuthError('too_many_requests', err.message, false, err.retryAfter)
    case 'store_unavailable':
    case 'rate_limit_unavailable':
      return new OAuthError('temporarily_unavailable', err.message)
    case 'invalid_client':
      return new OAuthError('invalid_client', err.message)
    case 'invalid_request':
      return new OAuthError('invalid_request', err.message)
    case 'invalid_dpop_proof':
    case 'use_dpop_nonce':
      return new OAuthError(err.code, err.message)
    default:
      return new OAuthError('invalid_request', err.message)
  }
}
