// Request and response schemas of the admin API (routes/admin).
import { Type } from '@sinclair/typebox'

const Ttl = Type.Integer({ minimum: 1, maximum: 315_360_000 })
export const GrantType = Type.Union(
  [Type.Literal('password'), Type.Literal('refresh_token'), Type.Literal('client_credentials')]
)
const Audience = Type.String({ minLength: 1, maxLength: 256, pattern: '^\\S+$', examples: ['orders-api'] })
const Scope = Type.String({
  minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', examples: ['orders:read']
})

export const NewClientBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, examples: ['Orders service'] }),
  grants: Type.Optional(Type.Array(GrantType, {
    minItems: 1, maxItems: 3, uniqueItems: true, description: 'Default: ["client_credentials"]'
  })),
  audiences: Type.Optional(Type.Array(Audience, {
    maxItems: 20, description: 'Added to JWT_AUDIENCE in the `aud` of this client\'s tokens'
  })),
  scopes: Type.Optional(Type.Array(Scope, { maxItems: 100, description: 'Scopes the client may be granted' })),
  access_token_ttl: Type.Optional({ ...Ttl, description: 'Seconds; at most ACCESS_TOKEN_TTL (default: that)' }),
  refresh_token_ttl: Type.Optional({ ...Ttl, description: 'Seconds; at most SESSION_MAX_LIFETIME (default: REFRESH_TOKEN_TTL)' })
}, { additionalProperties: false })

const clientProperties = {
  client_id: Type.String({ examples: ['Hk3n7Qd0bX1vJm9Lq2cP4w'] }),
  name: Type.String(),
  grants: Type.Array(GrantType),
  audiences: Type.Array(Type.String()),
  scopes: Type.Array(Type.String()),
  access_token_ttl: Type.Union([Type.Integer(), Type.Null()]),
  refresh_token_ttl: Type.Union([Type.Integer(), Type.Null()]),
  disabled: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' })
}

export const Client = Type.Object(clientProperties, { description: 'A client (never its secret)' })
export const NewClientResponse = Type.Object({
  ...clientProperties,
  client_secret: Type.String({ description: 'Shown this once; only its argon2id hash is stored' })
}, { description: 'The new client with its secret' })
export const ClientList = Type.Object({ clients: Type.Array(Client) })
export const ClientIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })

export const UserIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
export const SidParams = Type.Object({ sid: Type.String({ minLength: 1, maxLength: 128 }) })
export const SessionList = Type.Object({
  sessions: Type.Array(Type.Object({
    sid: Type.String(),
    client_id: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.String({ format: 'date-time', description: 'Idle expiry (the current refresh token\'s exp)' }),
    absolute_expires_at: Type.String({ format: 'date-time' })
  }))
}, { description: 'The user\'s live sessions, newest first' })

export const RotatedKey = Type.Object({
  kid: Type.String(),
  alg: Type.String({ examples: ['ES256'] }),
  published_at: Type.String({ format: 'date-time', description: 'In the JWKS from now on' }),
  activates_at: Type.String({ format: 'date-time', description: 'Signs from then on (now + KEY_ROTATION_OVERLAP)' })
}, { description: 'The next signing key' })
