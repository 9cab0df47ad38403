// Request and response schemas shared by the routes. Each shape is written
// once here; routes compose them. Compiled by Fastify into validators and
// serializers, and turned into the OpenAPI document by @fastify/swagger.
import { Type } from '@sinclair/typebox'
import {
  PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, ROLE_NAME_PATTERN, USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN
} from '../src/auth/accounts.js'
import { BATCH_FAILED_VERIFICATIONS } from '../src/tokens/tokens.js'

/**
 * Realistic token examples for the OpenAPI document. They are well-formed and
 * signed, but with example keys, so they validate as `invalid_signature` here.
 */
export const EXAMPLE_ACCESS_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjQwMDAiLCJzdWIiOiI2ZjFjMmEwZS04ZDRiLTRjNTUtOWE1MS0wYzNmM2YyYjhlMTEiLCJhdWQiOiJ0b2tlbi1vcmNoZXN0cmF0b3IiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzIyNjUwMCwianRpIjoiWWszdjlRZE0yclQ4d0x6WDRuQjdwQSIsInNpZCI6ImtWMnBOOHJRNHRXNnlaMWJEM2ZHNWgiLCJjbGllbnRfaWQiOiJkZWZhdWx0Iiwic2NvcGUiOiIiLCJyb2xlcyI6W119.W3eumtxsMUMNNWxSeFo1KwKG8H8c97ety8lySt76EQ0'
export const EXAMPLE_REFRESH_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6InJ0K2p3dCJ9.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjQwMDAiLCJzdWIiOiI2ZjFjMmEwZS04ZDRiLTRjNTUtOWE1MS0wYzNmM2YyYjhlMTEiLCJzaWQiOiJrVjJwTjhyUTR0VzZ5WjFiRDNmRzVoIiwianRpIjoiUW04Y1IyeFY1blQxa0w3ZEozZkg5dyIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY4NDM1MjAwfQ.4YRnlVX2TiugZk36UYcZIF8CWQSTfPlNa6HQfS4e0Dg'
const EXAMPLE_USER_ID = '6f1c2a0e-8d4b-4c55-9a51-0c3f3f2b8e11'
const EXAMPLE_USERNAME = 'alice@example.com'
const EXAMPLE_PASSWORD = 'correct horse battery staple'

export const Username = Type.String({
  minLength: USERNAME_MIN_LENGTH, maxLength: USERNAME_MAX_LENGTH, pattern: USERNAME_PATTERN, examples: [EXAMPLE_USERNAME]
})
export const NewPassword = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH, examples: [EXAMPLE_PASSWORD] })
/** At login the password is only compared, so no length rule beyond the upper bound is revealed. */
export const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH, examples: [EXAMPLE_PASSWORD] })
const jwtLimits = { minLength: 1, maxLength: 8192 }
/** An access or a refresh token. */
export const Jwt = Type.String({ ...jwtLimits, description: 'A compact JWT', examples: [EXAMPLE_ACCESS_TOKEN] })
export const AccessToken = Type.String({
  ...jwtLimits, description: 'An access token (compact JWT, `typ: at+jwt`)', examples: [EXAMPLE_ACCESS_TOKEN]
})
export const RefreshToken = Type.String({
  ...jwtLimits, description: 'A refresh token (compact JWT, `typ: rt+jwt`)', examples: [EXAMPLE_REFRESH_TOKEN]
})
export const ClientId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', examples: ['default'] })

export const RegisterBody = Type.Object({ username: Username, password: NewPassword }, {
  additionalProperties: false,
  examples: [{ username: EXAMPLE_USERNAME, password: EXAMPLE_PASSWORD }]
})
export const UserResponse = Type.Object({
  id: Type.String({ description: 'User id (the `sub` of its tokens)', examples: [EXAMPLE_USER_ID] }),
  username: Type.String({ description: 'Lower-cased username', examples: [EXAMPLE_USERNAME] })
}, { description: 'The new user', examples: [{ id: EXAMPLE_USER_ID, username: EXAMPLE_USERNAME }] })

export const LoginBody = Type.Object({
  username: Username,
  password: Password,
  client_id: Type.Optional(Type.String({
    ...ClientId,
    description: 'A public client (no secret) with the `password` grant, whose audiences, scopes and token ' +
      'lifetimes apply; the built-in `default` client when absent. Confidential clients log users in at /oauth/token.'
  }))
}, {
  additionalProperties: false,
  examples: [{ username: EXAMPLE_USERNAME, password: EXAMPLE_PASSWORD }]
})

export const RefreshTokenBody = Type.Object({ refresh_token: RefreshToken }, {
  additionalProperties: false,
  examples: [{ refresh_token: EXAMPLE_REFRESH_TOKEN }]
})

/** RFC 9449 §5: `DPoP` when the access token is bound to the key of the request's DPoP proof. */
export const TokenType = Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')], {
  description: '`DPoP` when the request carried a DPoP proof (the access token is then bound to its key: `cnf.jkt`), `Bearer` otherwise'
})

export const TokenPairResponse = Type.Object({
  access_token: AccessToken,
  refresh_token: RefreshToken,
  token_type: TokenType,
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [900] }),
  refresh_expires_in: Type.Integer({ description: 'Seconds until the refresh token expires', examples: [1209600] })
}, {
  description: 'A new access and refresh token pair',
  examples: [{
    access_token: EXAMPLE_ACCESS_TOKEN,
    refresh_token: EXAMPLE_REFRESH_TOKEN,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_expires_in: 1209600
  }]
})

export const LoginResponse = Type.Object({
  access_token: AccessToken,
  refresh_token: Type.Optional({ ...RefreshToken, description: 'Only for a client with the `refresh_token` grant' }),
  token_type: TokenType,
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [900] }),
  refresh_expires_in: Type.Optional(Type.Integer({
    description: 'Seconds until the refresh token expires (with `refresh_token` only)', examples: [1209600]
  }))
}, {
  description: 'An access token, and a refresh token when the client has the `refresh_token` grant (the ' +
    'default client has)',
  examples: [
    {
      access_token: EXAMPLE_ACCESS_TOKEN,
      refresh_token: EXAMPLE_REFRESH_TOKEN,
      token_type: 'Bearer',
      expires_in: 900,
      refresh_expires_in: 1209600
    },
    { access_token: EXAMPLE_ACCESS_TOKEN, token_type: 'Bearer', expires_in: 900 }
  ]
})

const EXAMPLE_CLAIMS = {
  iss: 'http://localhost:4000',
  sub: EXAMPLE_USER_ID,
  aud: 'token-orchestrator',
  iat: 1767225600,
  exp: 1767226500,
  jti: 'Yk3v9QdM2rT8wLzX4nB7pA',
  sid: 'kV2pN8rQ4tW6yZ1bD3fG5h',
  client_id: 'default',
  scope: '',
  roles: []
}

/**
 * RFC 8693 §4.1 `act` of an exchanged token. The nested `act` (the actor before,
 * on a re-exchange) has the same shape; it is described, not recursed, so the
 * serializer copies it as it is.
 */
/** RFC 7800 confirmation of a DPoP-bound token (RFC 9449 §6.1). */
export const Confirmation = Type.Object({
  jkt: Type.String({ description: 'RFC 7638 SHA-256 thumbprint of the client\'s DPoP key: every use needs a proof signed with it' })
}, { description: 'Present on DPoP-bound tokens' })

export const ActorClaim = Type.Object({
  sub: Type.String({ description: 'client_id of the service acting for the subject' }),
  act: Type.Optional(Type.Object({}, {
    additionalProperties: true,
    description: 'The previous actor, same shape (`{sub, act?}`), when a delegated token was exchanged again'
  }))
}, { description: 'Who acts for `sub` (token exchange); absent on tokens the user or client got directly' })

export const Claims = Type.Object({
  iss: Type.String({ description: 'Issuer: the metadata\'s `issuer` (PUBLIC_URL) unless JWT_ISSUER overrides it, or a previous issuer (JWT_ISSUER_PREVIOUS) inside its window' }),
  sub: Type.String({ description: 'User id, or client id for service tokens' }),
  aud: Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Audience' }),
  iat: Type.Integer({ description: 'Issued at (seconds since the epoch)' }),
  exp: Type.Integer({ description: 'Expires at (seconds since the epoch)' }),
  jti: Type.String({ description: 'Token id' }),
  sid: Type.Optional(Type.String({ description: 'Session id; absent for service tokens' })),
  client_id: Type.String({ description: 'The client the token was issued to' }),
  scope: Type.String({ description: 'Space-separated scopes' }),
  roles: Type.Array(Type.String(), { description: 'Roles of the subject' }),
  act: Type.Optional(ActorClaim),
  cnf: Type.Optional(Confirmation)
}, { description: 'The verified claims of an access token' })

export const ValidationError = Type.Union([
  Type.Literal('malformed'), Type.Literal('invalid_signature'), Type.Literal('expired'),
  Type.Literal('not_yet_valid'), Type.Literal('invalid_claims'), Type.Literal('wrong_token_type'),
  Type.Literal('revoked'), Type.Literal('dpop_proof_required'), Type.Literal('invalid_dpop_proof'),
  Type.Literal('not_verified')
], {
  description: 'Why the token is not valid. `dpop_proof_required`: the token is DPoP-bound and no `dpop` came ' +
    'with it; `invalid_dpop_proof`: the proof that came with it does not hold (see `message`); `not_verified` ' +
    `(batch only): the batch had already failed ${BATCH_FAILED_VERIFICATIONS} verifications (forged signatures or ` +
    'DPoP proofs), so this token, not yet verified by this instance (or its DPoP proof), was not checked: send it again on its own or in another batch'
})

/** What a resource server forwards of the request it received, so that a DPoP-bound token can be checked. */
export const DpopForward = Type.Object({
  proof: Type.String({ minLength: 1, maxLength: 8192, description: 'The request\'s `DPoP` header' }),
  method: Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z]+$', description: 'The request\'s method, e.g. `GET`' }),
  url: Type.String({
    minLength: 1,
    maxLength: 4096,
    description: 'The absolute URL the client addressed, e.g. `https://api.example.com/orders` (its query and fragment are ignored)'
  })
}, {
  additionalProperties: false,
  description: 'The DPoP proof a client sent to a resource server with this token, and that request\'s method and URL'
})

/** AccessToken without its example: OpenAPI 3.0 allows no `examples` inside anyOf. */
const BareAccessToken = Type.String({ ...jwtLimits, description: 'An access token (compact JWT, `typ: at+jwt`)' })

export const ValidateBody = Type.Object({
  token: AccessToken,
  dpop: Type.Optional(DpopForward)
}, {
  additionalProperties: false,
  examples: [{ token: EXAMPLE_ACCESS_TOKEN }]
})
export const ValidationResult = Type.Object({
  valid: Type.Boolean(),
  claims: Type.Optional(Claims),
  error: Type.Optional(ValidationError),
  message: Type.Optional(Type.String({ description: 'With `invalid_dpop_proof` and `dpop_proof_required`: what is wrong' }))
}, {
  description: '`{valid: true, claims}` or `{valid: false, error}`',
  examples: [{ valid: true, claims: EXAMPLE_CLAIMS }, { valid: false, error: 'expired' }]
})

export const BatchValidateBody = Type.Object({
  tokens: Type.Array(Type.Union([
    BareAccessToken,
    Type.Object({ token: BareAccessToken, dpop: Type.Optional(DpopForward) }, { additionalProperties: false })
  ]), { minItems: 1, maxItems: 100, description: 'Tokens, each alone or as `{token, dpop}` with what a DPoP-bound one needs' })
}, {
  additionalProperties: false,
  examples: [{ tokens: [EXAMPLE_ACCESS_TOKEN, 'not-a-jwt'] }]
})
export const BatchValidateResponse = Type.Object({
  results: Type.Array(ValidationResult, { description: 'One result per token, in the order given' })
}, {
  description: 'The results',
  examples: [{ results: [{ valid: true, claims: EXAMPLE_CLAIMS }, { valid: false, error: 'malformed' }] }]
})

export const RevokeBody = Type.Object({
  token: Jwt,
  token_type_hint: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')], {
    description: 'Which kind of token this is, if known (RFC 7009)'
  }))
}, {
  additionalProperties: false,
  examples: [{ token: EXAMPLE_REFRESH_TOKEN, token_type_hint: 'refresh_token' }]
})
export const RevokeResponse = Type.Object({
  revoked: Type.Boolean({ description: 'true when the token was a live token of this service and is now revoked' })
}, { description: 'Whether anything was revoked', examples: [{ revoked: true }] })

export const VerifyQuery = Type.Object({
  role: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: ROLE_NAME_PATTERN,
    // No example: the documented call of /auth/verify uses a token without roles.
    description: 'A role the token\'s `roles` claim must contain (e.g. `admin`)'
  })),
  scope: Type.Optional(Type.String({
    maxLength: 1024,
    description: 'Space-separated scopes the token must all have',
    examples: ['orders:read orders:write']
  })),
  audience: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 256,
    pattern: '^\\S+$',
    // No example: the documented call of /auth/verify uses a token of the default audience.
    description: 'An audience the token\'s `aud` must contain (the API the gateway guards, e.g. `orders-api`)'
  }))
})

/** An empty body (204, and the gateway's 200). */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'Done; no body' })
