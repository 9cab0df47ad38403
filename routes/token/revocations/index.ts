// GET /token/revocations: the revocation feed that @token-orchestrator/verifier
// follows (see src/revocation/revocation-feed.ts). Its own folder because
// routes/token/index.ts makes autoload skip the other files beside it.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../../src/errors.js'
import { MAX_WAIT_SECONDS, REVOCATIONS_READ_SCOPE } from '../../../src/revocation/revocation-feed.js'
import { errors } from '../../../plugins/schemas.js'

// Query values are strings (the service's validator coerces nothing): digits only, parsed in the handler.
const FeedQuery = Type.Object({
  after: Type.Optional(Type.String({
    pattern: '^(0|[1-9][0-9]{0,14})$',
    description: 'The cursor: entries with a higher sequence number are returned (default 0: from the start)',
    examples: ['42']
  })),
  wait: Type.Optional(Type.String({
    pattern: `^([0-9]|[12][0-9]|${MAX_WAIT_SECONDS})$`,
    description: `Seconds (0-${MAX_WAIT_SECONDS}) to wait for new entries when there are none yet (long-poll); ` +
      'default 0 answers at once',
    examples: ['30']
  }))
}, { additionalProperties: false })

const CLIENT_BASIC_CHALLENGE = 'Basic realm="token-orchestrator", charset="UTF-8"'

const FeedEntry = Type.Object({
  seq: Type.Integer({ description: 'Sequence number in the revocation log' }),
  kind: Type.Union([Type.Literal('jti'), Type.Literal('sid'), Type.Literal('client'), Type.Literal('user'), Type.Literal('key')], {
    description: '`jti`: one access token; `sid`: every token of a session; `client`: every token of a disabled client ' +
      'issued up to a few seconds after `created_at`; `user`: every token of the user (`sub`) issued in a second before ' +
      '`issued_before` (logout-all, a disable, a password change or reset, a role removal); `key`: every token whose ' +
      '`kid` header names the signing key (`value`), revoked in an emergency'
  }),
  value: Type.String({ description: 'The jti, sid, client_id, user id or kid' }),
  expires_at: Type.Integer({ description: 'Epoch seconds after which every token the entry covers has expired' }),
  created_at: Type.Integer({ description: 'Epoch seconds (floored) when the entry was written' }),
  issued_before: Type.Optional(Type.Integer({ description: 'A `user` entry only: the user\'s tokens with an earlier `iat` are covered' })),
  except_sid: Type.Optional(Type.String({ description: 'A `user` entry only: the session it spares (a password change keeps its own)' }))
})

const FeedPage = Type.Object({
  resync: Type.Boolean({
    description: 'true: the cursor was outside what the log still holds; `entries` are every live entry and ' +
      'replace the reader\'s view'
  }),
  entries: Type.Array(FeedEntry, { description: 'Oldest first; expired entries are left out' }),
  next_cursor: Type.Integer({ description: 'The `after` to ask next' })
}, {
  description: 'A page of the revocation log',
  examples: [
    {
      resync: false,
      entries: [
        { seq: 41, kind: 'jti', value: 'Yk3v9QdM2rT8wLzX4nB7pA', expires_at: 1767226500, created_at: 1767225600 },
        { seq: 42, kind: 'sid', value: 'kV2pN8rQ4tW6yZ1bD3fG5h', expires_at: 1769817600, created_at: 1767225610 }
      ],
      next_cursor: 42
    },
    { resync: false, entries: [], next_cursor: 42 }
  ]
})

const revocationFeedRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { revocationFeed, feedReaders, credentialRateLimit } = fastify

  fastify.get('/token/revocations', {
    // Failed and first-seen credentials draw on the one per-IP budget of every
    // other secret check (plugins/rate-limit.ts); a reader whose credentials
    // passed recently comes back every few seconds and is not counted, unless
    // its check needs argon2 (then the handler meters it).
    onRequest: async function (request, reply) {
      if (feedReaders.isKnown(request.headers.authorization)) return
      await credentialRateLimit.call(this, request, reply)
    },
    schema: {
      tags: ['token'],
      summary: 'Follow revocations (for resource servers that verify tokens themselves)',
      description: 'The revocation log after `after`, oldest first, at most 1000 entries, with the cursor to ask ' +
        'next. With `wait`, the answer comes as soon as there is something new, or empty when the wait is over. ' +
        'A cursor the log no longer covers gets `resync: true` with every live entry. Needs client ' +
        `authentication by HTTP Basic and the client scope \`${REVOCATIONS_READ_SCOPE}\`. ` +
        '`Cache-Control: no-store`.',
      security: [{ clientBasic: [] }],
      querystring: FeedQuery,
      response: {
        200: FeedPage,
        ...errors({
          400: 'The query does not match the schema',
          401: {
            description: '`invalid_client`: no HTTP Basic credentials, an unknown or disabled client, or a wrong secret ' +
              '(with `WWW-Authenticate: Basic`)',
            error: 'invalid_client',
            message: 'client authentication (HTTP Basic) is required'
          },
          403: {
            description: `\`insufficient_scope\`: the client lacks the \`${REVOCATIONS_READ_SCOPE}\` scope`,
            error: 'insufficient_scope',
            message: `this client lacks the ${REVOCATIONS_READ_SCOPE} scope`
          },
          429: 'Too many credential checks from this address, or too many failed ones for this client_id from this address (with `Retry-After`)',
          503: '`store_unavailable`: the store is unreachable; or `rate_limit_unavailable`: Redis, where the rate limits ' +
            'count (REDIS_URL), is down or too slow and the credentials need an argon2 check (a reader whose secret ' +
            'verified recently still reads)'
        })
      }
    }
  }, async (request, reply) => {
    try {
      // The limiter runs once a request: for one metered at onRequest, this is a no-op.
      await feedReaders.authenticate(request.headers.authorization, fastify.clientAddress(request), async () => { await credentialRateLimit.call(fastify, request, reply) })
    } catch (err) {
      // RFC 7235: a 401 names the scheme to use.
      if (err instanceof AppError && err.code === 'invalid_client') reply.header('www-authenticate', CLIENT_BASIC_CHALLENGE)
      throw err
    }
    const gone = new AbortController()
    // The reader hung up: stop waiting for it.
    reply.raw.once('close', () => gone.abort())
    const { after = '0', wait = '0' } = request.query
    const page = await revocationFeed.read(Number(after), Number(wait) * 1000, gone.signal)
    return page
  })
}

export default revocationFeedRoutes
