// Request and response schemas shared by the routes. Each shape is written
// once here; routes compose them. Compiled by Fastify into validators and
// serializers, and turned into the OpenAPI document by @fastify/swagger.
import { Type, type TSchema } from '@sinclair/typebox'

export const ErrorResponse = Type.Object({
  error: Type.String({ description: 'Machine-readable code', examples: ['invalid_request'] }),
  message: Type.String({ description: 'Human-readable explanation' })
}, { description: 'Error' })

/** `{error, message}` responses for the given statuses, each with its description. */
export function errors<S extends number> (statuses: Record<S, string>): Record<S, TSchema> {
  const out = {} as Record<S, TSchema>
  for (const [status, description] of Object.entries(statuses) as Array<[string, string]>) {
    out[Number(status) as S] = { ...ErrorResponse, description }
  }
  return out
}

export const Username = Type.String({
  minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$', examples: ['alice@example.com']
})
export const NewPassword = Type.String({ minLength: 8, maxLength: 256, examples: ['correct horse battery staple'] })
/** At login the password is only compared, so no length rule beyond the upper bound is revealed. */
export const Password = Type.String({ minLength: 1, maxLength: 256, examples: ['correct horse battery staple'] })
export const Jwt = Type.String({
  minLength: 1,
  maxLength: 8192,
  description: 'A compact JWT',
  examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl']
})
export const ClientId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', examples: ['default'] })

export const RegisterBody = Type.Object({ username: Username, password: NewPassword }, { additionalProperties: false })
export const UserResponse = Type.Object({
  id: Type.String({ examples: ['6f1c2a0e-8d4b-4c55-9a51-0c3f3f2b8e11'] }),
  username: Type.String({ examples: ['alice@example.com'] })
})

export const LoginBody = Type.Object({
  username: Username,
  password: Password,
  client_id: Type.Optional(ClientId)
}, { additionalProperties: false })

export const RefreshTokenBody = Type.Object({ refresh_token: Jwt }, { additionalProperties: false })

export const TokenPairResponse = Type.Object({
  access_token: Jwt,
  refresh_token: Jwt,
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [900] }),
  refresh_expires_in: Type.Integer({ description: 'Seconds until the refresh token expires', examples: [1209600] })
}, { description: 'A new access and refresh token pair' })

export const Claims = Type.Object({
  iss: Type.String(),
  sub: Type.String(),
  aud: Type.Union([Type.String(), Type.Array(Type.String())]),
  iat: Type.Integer(),
  exp: Type.Integer(),
  jti: Type.String(),
  sid: Type.Optional(Type.String()),
  client_id: Type.String(),
  scope: Type.String(),
  roles: Type.Array(Type.String())
}, { description: 'The verified claims of an access token' })

export const ValidationError = Type.Union([
  Type.Literal('malformed'), Type.Literal('invalid_signature'), Type.Literal('expired'),
  Type.Literal('not_yet_valid'), Type.Literal('invalid_claims'), Type.Literal('wrong_token_type'),
  Type.Literal('revoked')
])

export const ValidateBody = Type.Object({ token: Jwt }, { additionalProperties: false })
export const ValidationResult = Type.Object({
  valid: Type.Boolean(),
  claims: Type.Optional(Claims),
  error: Type.Optional(ValidationError)
}, {
  description: '`{valid: true, claims}` or `{valid: false, error}`',
  examples: [{ valid: false, error: 'expired' }]
})

export const BatchValidateBody = Type.Object({
  tokens: Type.Array(Jwt, { minItems: 1, maxItems: 100 })
}, { additionalProperties: false })
export const BatchValidateResponse = Type.Object({ results: Type.Array(ValidationResult) })

export const RevokeBody = Type.Object({
  token: Jwt,
  token_type_hint: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')]))
}, { additionalProperties: false })
export const RevokeResponse = Type.Object({
  revoked: Type.Boolean({ description: 'true when the token was a live token of this service and is now revoked' })
})

export const VerifyQuery = Type.Object({
  scope: Type.Optional(Type.String({
    maxLength: 1024,
    description: 'Space-separated scopes the token must all have',
    examples: ['orders:read orders:write']
  }))
})

/** An empty body (204, and the gateway's 200). */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'Done; no body' })
