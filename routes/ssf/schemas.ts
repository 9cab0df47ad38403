// Request and response schemas of the Shared Signals endpoints (routes/ssf
// and the metadata in routes/well-known.ts). Every field is bounded: lengths,
// item counts, and characters (no control characters anywhere, and an
// authorization header of visible ASCII only, so that nothing stored can
// split a header when it is sent).
import { Type } from '@sinclair/typebox'
import { EVENT_TYPES, EVENTS_SUPPORTED } from '../../src/ssf/events.js'
import { DEFAULT_MAX_EVENTS, MAX_EVENTS } from '../../src/ssf/poll.js'
import { POLL_METHOD, PUSH_METHOD } from '../../src/ssf/streams.js'

const EXAMPLE_STREAM_ID = 'f67e39a0a4d34d56b3aa1b'
const EXAMPLE_RECEIVER = 'Hk3n7Qd0bX1vJm9Lq2cP4w'
const EXAMPLE_ISSUER = 'https://auth.example.com'
const EXAMPLE_ENDPOINT = 'https://receiver.example.com/ssf/events'

export const MAX_EVENT_TYPES = 32

const StreamId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'The stream\'s id', examples: [EXAMPLE_STREAM_ID] })
const EventType = Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', description: 'An event type URI' })
const EventTypes = Type.Array(EventType, { maxItems: MAX_EVENT_TYPES })
/** Printable text without control characters. */
const Text = (maxLength: number, description: string) => Type.String({ maxLength, pattern: '^[^\\x00-\\x1f\\x7f]*$', description })

const Delivery = Type.Object({
  method: Type.Union([Type.Literal(PUSH_METHOD), Type.Literal(POLL_METHOD)], {
    description: `\`${PUSH_METHOD}\` (push, RFC 8935) or \`${POLL_METHOD}\` (poll, RFC 8936)`
  }),
  endpoint_url: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 2048,
    pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[\\x21-\\x7e]+$',
    description: 'Push: the receiver\'s URL (https; in production not a private or loopback address unless allowed by ' +
      'SSF_PUSH_ALLOWED_HOSTS; http only to loopback outside production). Poll: supplied by the transmitter'
  })),
  authorization_header: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 4096,
    pattern: '^[\\x21-\\x7e][\\x20-\\x7e]*$',
    description: 'Push: the `Authorization` value sent with every SET. Stored sealed; never shown again'
  }))
}, { additionalProperties: false })

export const StreamBody = Type.Object({
  stream_id: Type.Optional(StreamId),
  iss: Type.Optional(Type.String({ maxLength: 2048, description: 'Transmitter-supplied: if sent, must be the issuer' })),
  aud: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Array(Type.String({ maxLength: 256 }), { maxItems: 8 })], {
    description: 'Transmitter-supplied: if sent, must be the stream\'s audience (your client_id)'
  })),
  events_supported: Type.Optional(EventTypes),
  events_requested: Type.Optional(Type.Array(EventType, {
    maxItems: MAX_EVENT_TYPES, description: 'The event types wanted; unknown ones are ignored'
  })),
  events_delivered: Type.Optional(EventTypes),
  delivery: Type.Optional(Delivery),
  description: Type.Optional(Text(256, 'For people: what the stream is for')),
  min_verification_interval: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: 'Transmitter-supplied' }))
}, {
  additionalProperties: false,
  description: 'The receiver-supplied properties (events_requested, delivery, description), and stream_id for PATCH and ' +
    'PUT. Transmitter-supplied properties may be sent back but must then match.',
  examples: [
    {
      delivery: { method: PUSH_METHOD, endpoint_url: EXAMPLE_ENDPOINT, authorization_header: 'Bearer receiver-secret-0123456789' },
      events_requested: [EVENT_TYPES.sessionRevoked, EVENT_TYPES.credentialChange],
      description: 'Orders app: end sessions when the IdP ends them'
    },
    { stream_id: EXAMPLE_STREAM_ID, events_requested: [...EVENTS_SUPPORTED] },
    { delivery: { method: POLL_METHOD }, events_requested: [EVENT_TYPES.accountDisabled, EVENT_TYPES.accountEnabled] }
  ]
})

const EXAMPLE_STREAM = {
  stream_id: EXAMPLE_STREAM_ID,
  iss: EXAMPLE_ISSUER,
  aud: EXAMPLE_RECEIVER,
  events_supported: [...EVENTS_SUPPORTED],
  events_requested: [EVENT_TYPES.sessionRevoked, EVENT_TYPES.credentialChange],
  events_delivered: [EVENT_TYPES.sessionRevoked, EVENT_TYPES.credentialChange],
  delivery: { method: PUSH_METHOD, endpoint_url: EXAMPLE_ENDPOINT },
  min_verification_interval: 30,
  description: 'Orders app: end sessions when the IdP ends them'
}

const streamConfigProperties = {
  stream_id: Type.String(),
  iss: Type.String({ description: 'The `iss` of every SET: the metadata\'s issuer' }),
  aud: Type.String({ description: 'The `aud` of every SET: the receiving client\'s client_id' }),
  events_supported: Type.Array(Type.String()),
  events_requested: Type.Array(Type.String()),
  events_delivered: Type.Array(Type.String(), { description: 'What the stream carries: the requested types that are supported' }),
  delivery: Type.Object({ method: Type.String(), endpoint_url: Type.String() }, {
    description: 'The authorization header, if one was given, is never shown'
  }),
  min_verification_interval: Type.Integer(),
  description: Type.Optional(Type.String())
}

const STREAM_CONFIG = 'A stream\'s configuration (SSF §8.1.1)'

export const StreamConfig = Type.Object(streamConfigProperties, { description: STREAM_CONFIG, examples: [EXAMPLE_STREAM] })

// The members carry no examples of their own: OpenAPI 3.0 takes `example` at
// the response's top level only, and the union's examples cover both forms.
const StreamConfigMember = Type.Object(streamConfigProperties, { description: STREAM_CONFIG })

export const StreamConfigOrList = Type.Union([StreamConfigMember, Type.Array(StreamConfigMember)], {
  description: 'With stream_id: that stream. Without: every stream of the calling client (possibly none)',
  examples: [EXAMPLE_STREAM, [EXAMPLE_STREAM], []]
})

export const StreamQuery = Type.Object({ stream_id: Type.Optional(StreamId) }, { additionalProperties: false })
export const RequiredStreamQuery = Type.Object({ stream_id: StreamId }, { additionalProperties: false })

const Status = Type.Union([Type.Literal('enabled'), Type.Literal('paused'), Type.Literal('disabled')], {
  description: '`enabled`: events flow. `paused`: held, and sent when enabled again. `disabled`: none are held'
})

export const StatusBody = Type.Object({
  stream_id: StreamId,
  status: Status,
  reason: Type.Optional(Text(256, 'Why'))
}, { additionalProperties: false, examples: [{ stream_id: EXAMPLE_STREAM_ID, status: 'paused', reason: 'receiver maintenance' }] })

export const StreamStatus = Type.Object({
  stream_id: Type.String(),
  status: Type.String(),
  reason: Type.Optional(Type.String())
}, {
  description: 'The stream\'s status (SSF §8.1.2): `enabled`, `paused` or `disabled`, with the reason last given',
  examples: [{ stream_id: EXAMPLE_STREAM_ID, status: 'enabled' }, { stream_id: EXAMPLE_STREAM_ID, status: 'paused', reason: 'receiver maintenance' }]
})

export const VerifyBody = Type.Object({
  stream_id: StreamId,
  state: Type.Optional(Text(1024, 'Echoed in the verification event\'s `state`'))
}, { additionalProperties: false, examples: [{ stream_id: EXAMPLE_STREAM_ID, state: 'VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo' }] })

export const PollParams = Type.Object({ streamId: StreamId }, { additionalProperties: false })

const Jti = Type.String({ minLength: 1, maxLength: 128 })
const MAX_ACKS = 1000

export const PollBody = Type.Object({
  ack: Type.Optional(Type.Array(Jti, { maxItems: MAX_ACKS, description: 'jtis of SETs processed' })),
  setErrs: Type.Optional(Type.Record(Type.String(), Type.Object({
    err: Type.String({ minLength: 1, maxLength: 64 }),
    description: Type.Optional(Type.String({ maxLength: 256 }))
  }, { additionalProperties: false }), {
    maxProperties: MAX_ACKS,
    description: 'jtis of SETs that could not be processed, with the error: they count as processed (a jti longer than 128 characters matches no SET)'
  })),
  maxEvents: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: MAX_EVENTS,
    description: `At most this many SETs (default ${DEFAULT_MAX_EVENTS}); 0 acknowledges only`
  })),
  returnImmediately: Type.Optional(Type.Boolean({ description: 'false (default): wait up to 25 s for a SET when there is none' }))
}, {
  additionalProperties: false,
  description: 'RFC 8936 §2.4',
  examples: [
    { ack: ['4d3559ec67504aaba65d40b0363faad8'], maxEvents: 10, returnImmediately: false },
    { ack: [], setErrs: { '3d0c3cf797584bd193bd0fb1bd4e7d30': { err: 'invalid_key', description: 'unknown kid' } }, maxEvents: 0 },
    {}
  ]
})

export const PollAnswer = Type.Object({
  sets: Type.Record(Type.String(), Type.String(), { description: 'SETs by jti, oldest first' }),
  moreAvailable: Type.Optional(Type.Boolean({ description: 'true: more SETs are waiting' }))
}, {
  description: 'RFC 8936 §2.5',
  examples: [{ sets: { '4d3559ec67504aaba65d40b0363faad8': 'eyJhbGciOiJFUzI1NiIsInR5cCI6InNlY2V2ZW50K2p3dCJ9.e30.c2ln' } }, { sets: {} }]
})

export const TransmitterMetadataSchema = Type.Object({
  spec_version: Type.String(),
  issuer: Type.String(),
  jwks_uri: Type.String(),
  delivery_methods_supported: Type.Array(Type.String()),
  configuration_endpoint: Type.String(),
  status_endpoint: Type.String(),
  verification_endpoint: Type.String(),
  authorization_schemes: Type.Array(Type.Object({ spec_urn: Type.String() })),
  default_subjects: Type.String()
}, {
  description: 'SSF 1.0 §7.1 transmitter configuration metadata',
  examples: [{
    spec_version: '1_0',
    issuer: EXAMPLE_ISSUER,
    jwks_uri: `${EXAMPLE_ISSUER}/.well-known/jwks.json`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${EXAMPLE_ISSUER}/ssf/streams`,
    status_endpoint: `${EXAMPLE_ISSUER}/ssf/status`,
    verification_endpoint: `${EXAMPLE_ISSUER}/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL'
  }]
})
