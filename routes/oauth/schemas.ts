// Request and response schemas of the OAuth 2.0 endpoints (routes/oauth).
// Errors here are RFC 6749 §5.2 `{error, error_description}`, not the service's
// `{error, message}`: OAuth client libraries parse that shape.
import { Type, type TSchema } from '@sinclair/typebox'

const Param = (maxLength: number, description: string) => Type.Optional(Type.String({ maxLength, description }))

export const OAuthErrorResponse = Type.Object({
  error: Type.String({ description: 'RFC 6749 §5.2 error code', examples: ['invalid_client'] }),
  error_description: Type.Optional(Type.String({ description: 'Human-readable explanation' }))
}, { description: 'OAuth error' })

/** `{error, error_description}` responses for the given statuses. */
export function oauthErrors<S extends number> (statuses: Record<S, string>): Record<S, TSchema> {
  const out = {} as Record<S, TSchema>
  for (const [status, description] of Object.entries(statuses) as Array<[string, string]>) {
    out[Number(status) as S] = { ...OAuthErrorResponse, description }
  }
  return out
}

const clientParams = {
  client_id: Param(128, 'Client authentication in the body (client_secret_post), or the public `default` client'),
  client_secret: Param(256, 'With client_id: client_secret_post')
}

// Unknown parameters are ignored (RFC 6749 §3.1), so extra properties are allowed.
export const TokenRequestBody = Type.Object({
  grant_type: Param(64, '`password`, `refresh_token` or `client_credentials`'),
  username: Param(64, 'password grant'),
  password: Param(256, 'password grant'),
  refresh_token: Param(8192, 'refresh_token grant'),
  scope: Param(4096, 'Space-separated; must be within the client\'s scopes'),
  ...clientParams
}, { examples: [{ grant_type: 'client_credentials', scope: 'orders:read' }] })

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ examples: [900] }),
  refresh_token: Type.Optional(Type.String({ description: 'Not for client_credentials' })),
  refresh_expires_in: Type.Optional(Type.Integer()),
  scope: Type.String({ description: 'The granted scope (may be empty)' })
}, { description: 'RFC 6749 §5.1 token response' })

export const TokenParamBody = Type.Object({
  token: Param(8192, 'The token'),
  token_type_hint: Param(64, '`access_token` or `refresh_token`'),
  ...clientParams
})

export const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String({ description: '`Bearer` (access token) or `refresh_token`' })),
  iss: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String()))
}, {
  description: 'RFC 7662 §2.2: the claims of an active token; exactly `{"active": false}` otherwise',
  examples: [{ active: false }]
})

export const ServerMetadata = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  introspection_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String())
}, { description: 'RFC 8414 authorization server metadata' })
