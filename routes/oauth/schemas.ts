// Request and response schemas of the OAuth 2.0 endpoints (routes/oauth).
// Errors here are RFC 6749 §5.2 `{error, error_description}`, not the service's
// `{error, message}`: OAuth client libraries parse that shape.
import { Type } from '@sinclair/typebox'
import { ActorClaim, Confirmation, EXAMPLE_ACCESS_TOKEN, EXAMPLE_REFRESH_TOKEN, TokenType } from '../schemas.js'
import { CLIENT_ID_MAX, CLIENT_SECRET_MAX } from '../../src/oauth/client-auth.js'

const Param = (maxLength: number, description: string) => Type.Optional(Type.String({ maxLength, description }))

/** A client_credentials access token (ES256, signed with an example key, so it does not verify here). */
export const EXAMPLE_SERVICE_TOKEN = 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IlB6czZEbmNwb2JoOWFQRko4VEpFSHloZUtyTzJOUmtHdlVrcmI4RmhTMGcifQ.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjQwMDAiLCJzdWIiOiJIazNuN1FkMGJYMXZKbTlMcTJjUDR3IiwiYXVkIjpbInRva2VuLW9yY2hlc3RyYXRvciIsIm9yZGVycy1hcGkiXSwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjY1MDAsImp0aSI6IlpyNXRXOHlCMWRGNGhKN2tNMG5RM3MiLCJjbGllbnRfaWQiOiJIazNuN1FkMGJYMXZKbTlMcTJjUDR3Iiwic2NvcGUiOiJvcmRlcnM6cmVhZCIsInJvbGVzIjpbXX0.MUzyAvSLyrViaCkiZlC0g3Mg1y3bxJwFNfmy8-hBd3MRsRgHrcYIMIdmWba-uPxPmo0QsDS6Xqwby1cG9l9pvg'
const EXAMPLE_CLIENT_ID = 'Hk3n7Qd0bX1vJm9Lq2cP4w'
const EXAMPLE_CLIENT_SECRET = 'mbjqdEN4u36qnLq35m350mVWpHfMMk4xqUyP-jZuCms'

const clientParams = {
  client_id: Param(CLIENT_ID_MAX, 'Client authentication in the body (client_secret_post), or the public `default` client'),
  client_secret: Param(CLIENT_SECRET_MAX, 'With client_id: client_secret_post')
}

// Unknown parameters are ignored (RFC 6749 §3.1), so extra properties are allowed.
export const TokenRequestBody = Type.Object({
  grant_type: Param(64, '`password`, `refresh_token`, `client_credentials` or ' +
    '`urn:ietf:params:oauth:grant-type:token-exchange`'),
  username: Param(64, 'password grant'),
  password: Param(256, 'password grant'),
  refresh_token: Param(8192, 'refresh_token grant'),
  scope: Param(4096, 'Space-separated; must be within the client\'s scopes (token exchange: and within the subject token\'s)'),
  subject_token: Param(8192, 'token exchange: the user\'s access token to exchange'),
  subject_token_type: Param(256, 'token exchange: `urn:ietf:params:oauth:token-type:access_token`'),
  audience: Param(256, 'token exchange: the target service, one of the calling client\'s audiences (default: all of them)'),
  requested_token_type: Param(256, 'token exchange: `urn:ietf:params:oauth:token-type:access_token` (the default and only value)'),
  actor_token: Param(8192, 'token exchange: not supported (the authenticated client is the actor)'),
  actor_token_type: Param(256, 'token exchange: not supported'),
  resource: Param(2048, 'token exchange: not supported (`invalid_target`); use `audience`'),
  ...clientParams
}, {
  description: 'Form-encoded (`application/x-www-form-urlencoded`, what OAuth clients send) or JSON',
  examples: [
    // client_credentials with HTTP Basic client authentication (the id and secret in `Authorization`).
    { grant_type: 'client_credentials', scope: 'orders:read' },
    // client_credentials with client_secret_post.
    { grant_type: 'client_credentials', scope: 'orders:read', client_id: EXAMPLE_CLIENT_ID, client_secret: EXAMPLE_CLIENT_SECRET },
    // password grant for the built-in public client.
    { grant_type: 'password', username: 'alice@example.com', password: 'correct horse battery staple', client_id: 'default' },
    { grant_type: 'refresh_token', refresh_token: EXAMPLE_REFRESH_TOKEN },
    // token exchange (with HTTP Basic client authentication): the user's token for the orders API.
    {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: EXAMPLE_ACCESS_TOKEN,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'orders-api',
      scope: 'orders:read'
    }
  ]
})

export const TokenResponse = Type.Object({
  access_token: Type.String({ description: 'An access token (compact JWT, `typ: at+jwt`)' }),
  token_type: TokenType,
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [900] }),
  refresh_token: Type.Optional(Type.String({ description: 'Not for client_credentials' })),
  refresh_expires_in: Type.Optional(Type.Integer({ description: 'Seconds until the refresh token expires' })),
  issued_token_type: Type.Optional(Type.Literal('urn:ietf:params:oauth:token-type:access_token', {
    description: 'Token exchange only (RFC 8693 §2.2.1)'
  })),
  scope: Type.String({ description: 'The granted scope (may be empty)' })
}, {
  description: 'RFC 6749 §5.1 token response (RFC 8693 §2.2.1 for token exchange)',
  examples: [
    { access_token: EXAMPLE_SERVICE_TOKEN, token_type: 'Bearer', expires_in: 900, scope: 'orders:read' },
    {
      access_token: EXAMPLE_ACCESS_TOKEN,
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: EXAMPLE_REFRESH_TOKEN,
      refresh_expires_in: 1209600,
      scope: ''
    },
    {
      access_token: EXAMPLE_SERVICE_TOKEN,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'orders:read'
    }
  ]
})

export const TokenParamBody = Type.Object({
  token: Param(8192, 'The token'),
  token_type_hint: Param(64, '`access_token` or `refresh_token`'),
  ...clientParams
}, {
  description: 'Form-encoded (`application/x-www-form-urlencoded`, what OAuth clients send) or JSON',
  examples: [
    // With HTTP Basic client authentication.
    { token: EXAMPLE_SERVICE_TOKEN, token_type_hint: 'access_token' },
    // With client_secret_post.
    { token: EXAMPLE_SERVICE_TOKEN, client_id: EXAMPLE_CLIENT_ID, client_secret: EXAMPLE_CLIENT_SECRET }
  ]
})

const ActiveAccessToken = Type.Object({
  active: Type.Literal(true),
  token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')], { description: '`DPoP` for a DPoP-bound token (RFC 9449 §6.2)' }),
  iss: Type.String({ description: 'Issuer: the metadata\'s `issuer` unless JWT_ISSUER overrides it' }),
  sub: Type.String({ description: 'User id, or client id for client_credentials tokens' }),
  aud: Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Audience' }),
  iat: Type.Integer({ description: 'Issued at (seconds since the epoch)' }),
  exp: Type.Integer({ description: 'Expires at (seconds since the epoch)' }),
  jti: Type.String({ description: 'Token id' }),
  sid: Type.Optional(Type.String({ description: 'Session id; absent for client_credentials tokens' })),
  client_id: Type.String({ description: 'The client the token was issued to' }),
  scope: Type.String({ description: 'Space-separated scopes' }),
  roles: Type.Array(Type.String(), { description: 'Roles of the subject' }),
  act: Type.Optional(ActorClaim),
  cnf: Type.Optional(Confirmation)
}, { title: 'Active access token', description: 'An active access token and its claims' })

const ActiveRefreshToken = Type.Object({
  active: Type.Literal(true),
  token_type: Type.Literal('refresh_token'),
  iss: Type.String({ description: 'Issuer: the metadata\'s `issuer` unless JWT_ISSUER overrides it' }),
  sub: Type.String({ description: 'User id' }),
  iat: Type.Integer({ description: 'Issued at (seconds since the epoch)' }),
  exp: Type.Integer({ description: 'Expires at (seconds since the epoch)' }),
  jti: Type.String({ description: 'Token id' }),
  sid: Type.String({ description: 'Session id' }),
  client_id: Type.String({ description: 'The client of the session' })
}, { title: 'Active refresh token', description: 'The current refresh token of a live session, and its claims' })

const InactiveToken = Type.Object({ active: Type.Literal(false) }, {
  additionalProperties: false,
  title: 'Inactive token',
  description: 'Invalid, expired, revoked, unknown or not this service\'s: nothing more is said'
})

export const IntrospectionResponse = Type.Union([ActiveAccessToken, ActiveRefreshToken, InactiveToken], {
  description: 'RFC 7662 §2.2: the claims of an active token; exactly `{"active": false}` otherwise',
  examples: [
    {
      active: true,
      token_type: 'Bearer',
      iss: 'http://localhost:4000',
      sub: EXAMPLE_CLIENT_ID,
      aud: ['token-orchestrator', 'orders-api'],
      iat: 1767225600,
      exp: 1767226500,
      jti: 'Zr5tW8yB1dF4hJ7kM0nQ3s',
      client_id: EXAMPLE_CLIENT_ID,
      scope: 'orders:read',
      roles: []
    },
    {
      active: true,
      token_type: 'refresh_token',
      iss: 'http://localhost:4000',
      sub: '6f1c2a0e-8d4b-4c55-9a51-0c3f3f2b8e11',
      iat: 1767225600,
      exp: 1768435200,
      jti: 'Qm8cR2xV5nT1kL7dJ3fH9w',
      sid: 'kV2pN8rQ4tW6yZ1bD3fG5h',
      client_id: 'default'
    },
    { active: false }
  ]
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
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  dpop_signing_alg_values_supported: Type.Array(Type.String(), { description: 'RFC 9449 §5.1: the algorithms DPoP proofs may be signed with (DPOP_ALGORITHMS)' }),
  jwt_issuer: Type.Optional(Type.String({
    description: 'Only when JWT_ISSUER overrides the default: the `iss` tokens carry, which then differs from ' +
      '`issuer` (RFC 9068 wants them equal)'
  })),
  jwt_issuer_previous: Type.Optional(Type.Array(Type.String(), {
    description: 'Only during an issuer change (JWT_ISSUER_PREVIOUS): older `iss` values still accepted, never issued'
  })),
  jwt_issuer_previous_until: Type.Optional(Type.Integer({
    description: 'With jwt_issuer_previous: epoch seconds from which only the current issuer is accepted'
  }))
}, {
  description: 'RFC 8414 authorization server metadata, plus where this service\'s token `iss` differs from ' +
    '`issuer` or an older one is still accepted (read by @token-orchestrator/verifier)',
  examples: [{
    issuer: 'http://localhost:4000',
    token_endpoint: 'http://localhost:4000/oauth/token',
    jwks_uri: 'http://localhost:4000/.well-known/jwks.json',
    introspection_endpoint: 'http://localhost:4000/oauth/introspect',
    revocation_endpoint: 'http://localhost:4000/oauth/revoke',
    grant_types_supported: ['password', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    dpop_signing_alg_values_supported: ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256']
  }]
})
