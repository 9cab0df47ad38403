// Request and response schemas of the admin API (routes/admin).
import { Type } from '@sinclair/typebox'

const EXAMPLE_CLIENT_ID = 'Hk3n7Qd0bX1vJm9Lq2cP4w'
const EXAMPLE_USER_ID = '6f1c2a0e-8d4b-4c55-9a51-0c3f3f2b8e11'
const EXAMPLE_SID = 'kV2pN8rQ4tW6yZ1bD3fG5h'
const EXAMPLE_CLIENT = {
  client_id: EXAMPLE_CLIENT_ID,
  name: 'Orders service',
  public: false,
  grants: ['client_credentials'],
  audiences: ['orders-api'],
  scopes: ['orders:read'],
  access_token_ttl: 300,
  refresh_token_ttl: null,
  dpop_bound_access_tokens: false,
  disabled: false,
  created_at: '2026-11-23T09:12:44.507Z'
}
/** A public client (no secret): a first-party app. */
const EXAMPLE_PUBLIC_CLIENT = {
  ...EXAMPLE_CLIENT,
  client_id: 'Vb2mX9qLr4TzK8nWc1pQ6g',
  name: 'Web shop',
  public: true,
  grants: ['password', 'refresh_token'],
  audiences: ['shop-api'],
  scopes: ['orders:read', 'orders:write'],
  access_token_ttl: null,
  created_at: '2026-11-20T14:03:09.118Z'
}

const Ttl = Type.Integer({ minimum: 1, maximum: 315_360_000 })
export const GrantType = Type.Union([
  Type.Literal('password'), Type.Literal('refresh_token'), Type.Literal('client_credentials'),
  Type.Literal('urn:ietf:params:oauth:grant-type:token-exchange')
])
const Audience = Type.String({ minLength: 1, maxLength: 256, pattern: '^\\S+$', examples: ['orders-api'] })
const Scope = Type.String({
  minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', examples: ['orders:read']
})

const DpopBound = Type.Boolean({
  description: 'RFC 9449 §5.2: every token request of this client must carry a DPoP proof (its tokens are then ' +
    'all DPoP-bound); default false'
})

/** What PATCH /admin/clients/{id} changes. */
export const ClientUpdateBody = Type.Object({
  dpop_bound_access_tokens: DpopBound
}, { additionalProperties: false, examples: [{ dpop_bound_access_tokens: true }] })

export const NewClientBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, examples: ['Orders service'] }),
  public: Type.Optional(Type.Boolean({
    description: 'true: a public client (no secret; a first-party app that cannot keep one). It may not have ' +
      '`client_credentials`. Default false: a confidential client with a secret'
  })),
  grants: Type.Optional(Type.Array(GrantType, {
    minItems: 1,
    maxItems: 4,
    uniqueItems: true,
    description: 'Default: ["client_credentials"] for a confidential client, ["password", "refresh_token"] for a public one'
  })),
  audiences: Type.Optional(Type.Array(Audience, {
    maxItems: 20, description: 'Added to JWT_AUDIENCE in the `aud` of this client\'s tokens'
  })),
  scopes: Type.Optional(Type.Array(Scope, { maxItems: 100, description: 'Scopes the client may be granted' })),
  access_token_ttl: Type.Optional({ ...Ttl, description: 'Seconds; at most ACCESS_TOKEN_TTL (default: that)' }),
  refresh_token_ttl: Type.Optional({ ...Ttl, description: 'Seconds; at most SESSION_MAX_LIFETIME (default: REFRESH_TOKEN_TTL)' }),
  dpop_bound_access_tokens: Type.Optional(DpopBound)
}, {
  additionalProperties: false,
  examples: [
    { name: 'Orders service', grants: ['client_credentials'], audiences: ['orders-api'], scopes: ['orders:read'], access_token_ttl: 300 },
    { name: 'Web shop', public: true, grants: ['password', 'refresh_token'], audiences: ['shop-api'], scopes: ['orders:read', 'orders:write'] }
  ]
})

const clientProperties = {
  client_id: Type.String({ description: 'Random, 128 bits, URL-safe', examples: [EXAMPLE_CLIENT_ID] }),
  name: Type.String({ examples: ['Orders service'] }),
  public: Type.Boolean({ description: 'true: a public client, which has no secret' }),
  grants: Type.Array(GrantType, { description: 'Grants the client may use' }),
  audiences: Type.Array(Type.String(), { description: 'Added to JWT_AUDIENCE in the `aud` of its tokens' }),
  scopes: Type.Array(Type.String(), { description: 'Scopes the client may be granted' }),
  access_token_ttl: Type.Union([Type.Integer(), Type.Null()], { description: 'Seconds; null: ACCESS_TOKEN_TTL' }),
  refresh_token_ttl: Type.Union([Type.Integer(), Type.Null()], { description: 'Seconds; null: REFRESH_TOKEN_TTL' }),
  dpop_bound_access_tokens: DpopBound,
  disabled: Type.Boolean({ description: 'A disabled client gets no tokens and its tokens are refused' }),
  created_at: Type.String({ format: 'date-time' })
}

export const Client = Type.Object(clientProperties, {
  description: 'A client (never its secret)',
  examples: [{ ...EXAMPLE_CLIENT, disabled: true }]
})
export const NewClientResponse = Type.Object({
  ...clientProperties,
  client_secret: Type.Union([Type.String(), Type.Null()], {
    description: 'A confidential client\'s secret, shown this once (only its argon2id hash is stored); null for a public client'
  })
}, {
  description: 'The new client with its secret',
  examples: [
    { ...EXAMPLE_CLIENT, client_secret: 'mbjqdEN4u36qnLq35m350mVWpHfMMk4xqUyP-jZuCms' },
    { ...EXAMPLE_PUBLIC_CLIENT, client_secret: null }
  ]
})
export const ClientList = Type.Object({ clients: Type.Array(Client) }, {
  description: 'Every client, without secrets',
  examples: [{
    clients: [
      EXAMPLE_CLIENT,
      EXAMPLE_PUBLIC_CLIENT
    ]
  }]
})
export const ClientIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'The client_id', examples: [EXAMPLE_CLIENT_ID] })
})

export const UserIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'The user id (`sub`)', examples: [EXAMPLE_USER_ID] })
})
export const SidParams = Type.Object({
  sid: Type.String({ minLength: 1, maxLength: 128, description: 'The session id (`sid` claim)', examples: [EXAMPLE_SID] })
})
export const SessionList = Type.Object({
  sessions: Type.Array(Type.Object({
    sid: Type.String({ description: 'Session id (the `sid` claim of its tokens)' }),
    client_id: Type.String({ description: 'The client the session was started for' }),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.String({ format: 'date-time', description: 'Idle expiry (the current refresh token\'s exp)' }),
    absolute_expires_at: Type.String({ format: 'date-time', description: 'Ends then at the latest (SESSION_MAX_LIFETIME)' })
  }))
}, {
  description: 'The user\'s live sessions, newest first',
  examples: [{
    sessions: [
      {
        sid: EXAMPLE_SID,
        client_id: 'default',
        created_at: '2026-11-23T08:30:00.000Z',
        expires_at: '2026-12-07T08:45:00.000Z',
        absolute_expires_at: '2026-12-23T08:30:00.000Z'
      },
      {
        sid: 'Tg4hY7uJ2kL9mN3bV6cX8z',
        client_id: 'Vb2mX9qLr4TzK8nWc1pQ6g',
        created_at: '2026-11-21T17:02:11.000Z',
        expires_at: '2026-12-05T17:02:11.000Z',
        absolute_expires_at: '2026-12-21T17:02:11.000Z'
      }
    ]
  }]
})

export const RotatedKey = Type.Object({
  kid: Type.String({ description: 'RFC 7638 thumbprint of the public key; the `kid` of the tokens it signs' }),
  alg: Type.String({ description: 'JWT_ALGORITHM', examples: ['ES256'] }),
  published_at: Type.String({ format: 'date-time', description: 'In the JWKS from now on' }),
  activates_at: Type.String({ format: 'date-time', description: 'Signs from then on (now + KEY_ROTATION_OVERLAP)' })
}, {
  description: 'The next signing key',
  examples: [{
    kid: 'hQGukHYQ94ZNua0gOijz4tcDdD5Q9UHfsH-XCxy616U',
    alg: 'ES256',
    published_at: '2026-11-23T09:00:00.000Z',
    activates_at: '2026-11-23T09:10:00.000Z'
  }]
})

export const KidParams = Type.Object({
  kid: Type.String({
    minLength: 1,
    maxLength: 128,
    description: 'The key\'s `kid` (in the JWKS, and the `kid` header of the tokens it signed)',
    examples: ['Pzs6Dncpobh9aPFJ8TJEHyheKrO2NRkGvUkrb8FhS0g']
  })
})

export const RevokedKey = Type.Object({
  kid: Type.String({ description: 'The key revoked: out of the JWKS, and every token it signed refused' }),
  alg: Type.String({ examples: ['ES256'] }),
  revoked_at: Type.String({ format: 'date-time' }),
  revocation_seq: Type.Integer({ description: 'Its entry in the revocation feed (kind `key`), which instances and verifiers apply' }),
  replacement: Type.Union([
    Type.Object({
      kid: Type.String(),
      alg: Type.String(),
      activates_at: Type.String({ format: 'date-time', description: 'Now: it signs at once, without the rotation overlap' })
    }),
    Type.Null()
  ], { description: 'The key that signs in its place; null when the revoked key was not the one signing' })
}, {
  description: 'A signing key revoked in an emergency',
  examples: [{
    kid: 'Pzs6Dncpobh9aPFJ8TJEHyheKrO2NRkGvUkrb8FhS0g',
    alg: 'ES256',
    revoked_at: '2026-11-23T09:00:00.000Z',
    revocation_seq: 42,
    replacement: { kid: 'hQGukHYQ94ZNua0gOijz4tcDdD5Q9UHfsH-XCxy616U', alg: 'ES256', activates_at: '2026-11-23T09:00:00.000Z' }
  }]
})

/** The admin guard's (./autohooks.ts) answers, documented on every /admin route. */
export const guarded = {
  401: 'invalid_token: missing, invalid or revoked access token, or the caller\'s account is disabled (with ' +
    '`WWW-Authenticate: Bearer`)',
  403: {
    description: 'forbidden: the caller does not have the admin role now (read from the store on every request), or the ' +
      'token is not a first-party login\'s (issued to another client than `default`, or by token exchange)',
    error: 'forbidden',
    message: 'the admin role is required'
  }
}
