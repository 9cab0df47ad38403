// The Shared Signals transmitter's API (SSF 1.0 §8.1): stream configuration,
// status and verification, and poll delivery (RFC 8936). Authorisation is the
// folder's (./autohooks.ts); the rules are src/ssf/'s.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Transmitter } from '../../src/ssf/transmitter.js'
import { errors, type ErrorDoc } from '../../plugins/schemas.js'
import { NoContent } from '../schemas.js'
import {
  PollAnswer, PollBody, PollParams, RequiredStreamQuery, StatusBody, StreamBody, StreamConfig, StreamConfigOrList, StreamQuery,
  StreamStatus, VerifyBody
} from './schemas.js'

const tags = ['ssf']
const security = [{ bearerAuth: [] }]
/** Stream management bodies are small; a poll may acknowledge a thousand SETs. */
const BODY_LIMIT = 16 * 1024
const POLL_BODY_LIMIT = 256 * 1024

const guarded: Record<number, ErrorDoc> = {
  401: 'No access token, or one that is invalid, expired or revoked (with `WWW-Authenticate: Bearer`)',
  403: {
    description: '`insufficient_scope`: not a client\'s own client_credentials token with the `ssf:manage` scope',
    error: 'insufficient_scope',
    message: 'a client\'s own access token (client_credentials) with the ssf:manage scope is required'
  },
  503: 'The store is unreachable; nothing was changed'
}
const noStream: Record<number, ErrorDoc> = {
  404: {
    description: 'No such stream for this receiver (another client\'s streams are answered the same way), or Shared ' +
      'Signals are off (JWT_ALGORITHM=HS256)',
    error: 'not_found',
    message: 'no such stream'
  }
}
const badBody: Record<number, ErrorDoc> = {
  400: {
    description: 'The body does not match the schema, a transmitter-supplied property does not match, or the push ' +
      'endpoint is refused (not https in production, a non-public address, credentials in the URL)',
    error: 'invalid_request',
    message: 'endpoint_url must be an https URL (NODE_ENV=production)'
  }
}
const raced: Record<number, ErrorDoc> = { 409: 'The stream kept changing under concurrent requests; try again' }

const ssfRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // The hook has made sure it is there.
  const ssf = (): Transmitter => fastify.ssf!

  fastify.post('/ssf/streams', {
    bodyLimit: BODY_LIMIT,
    schema: {
      tags,
      security,
      summary: 'Create a stream',
      description: 'A stream for the calling client (the receiver): `aud` is its client_id. Without `delivery` it is a ' +
        'poll stream. It carries the events appended from now on, of the requested types that are supported. At most ' +
        'SSF_MAX_STREAMS_PER_CLIENT streams per client.',
      body: StreamBody,
      response: {
        201: StreamConfig,
        ...errors({
          ...badBody,
          ...guarded,
          404: 'Shared Signals are off (JWT_ALGORITHM=HS256)',
          409: { description: 'The client has SSF_MAX_STREAMS_PER_CLIENT streams already', error: 'conflict', message: 'a client may have at most 5 streams (SSF_MAX_STREAMS_PER_CLIENT)' }
        })
      }
    }
  }, async (request, reply) => {
    const stream = await ssf().streams.create(request.receiver, request.body)
    request.log.info({ streamId: stream.stream_id, receiver: request.receiver, method: stream.delivery.method }, 'ssf stream created')
    return reply.code(201).send(stream)
  })

  fastify.get('/ssf/streams', {
    schema: {
      tags,
      security,
      summary: 'Read a stream, or list the caller\'s streams',
      description: 'With `stream_id`: that stream\'s configuration. Without: every stream of the calling client.',
      querystring: StreamQuery,
      response: { 200: StreamConfigOrList, ...errors({ 400: 'The query does not match the schema', ...guarded, ...noStream }) }
    }
  }, async (request) => {
    const { stream_id: streamId } = request.query
    return streamId === undefined ? ssf().streams.list(request.receiver) : ssf().streams.get(request.receiver, streamId)
  })

  for (const [method, mode, summary, description] of [
    ['PATCH', 'patch', 'Update a stream', 'Changes the receiver-supplied properties present in the body (`delivery` ' +
      'as a whole); the others stay.'],
    ['PUT', 'put', 'Replace a stream', 'Replaces every receiver-supplied property: one left out is deleted (no ' +
      'description, no event types, poll delivery).']
  ] as const) {
    fastify.route({
      method,
      url: '/ssf/streams',
      bodyLimit: BODY_LIMIT,
      schema: {
        tags,
        security,
        summary,
        description: `${description} \`stream_id\` is required.`,
        body: StreamBody,
        response: { 200: StreamConfig, ...errors({ ...badBody, ...guarded, ...noStream, ...raced }) }
      },
      handler: async (request) => {
        const stream = await ssf().streams.update(request.receiver, request.body, mode)
        request.log.info({ streamId: stream.stream_id, receiver: request.receiver }, 'ssf stream changed')
        return stream
      }
    })
  }

  fastify.delete('/ssf/streams', {
    schema: {
      tags,
      security,
      summary: 'Delete a stream',
      description: 'The stream is gone at once; its undelivered events are not sent.',
      querystring: RequiredStreamQuery,
      response: { 204: NoContent, ...errors({ 400: 'stream_id is missing or malformed', ...guarded, ...noStream }) }
    }
  }, async (request, reply) => {
    await ssf().streams.delete(request.receiver, request.query.stream_id)
    request.log.info({ streamId: request.query.stream_id, receiver: request.receiver }, 'ssf stream deleted')
    return reply.code(204).send()
  })

  fastify.get('/ssf/status', {
    schema: {
      tags,
      security,
      summary: 'Read a stream\'s status',
      description: '`enabled`, `paused` or `disabled`, with the reason given when it was set.',
      querystring: RequiredStreamQuery,
      response: { 200: StreamStatus, ...errors({ 400: 'stream_id is missing or malformed', ...guarded, ...noStream }) }
    }
  }, async (request) => ssf().streams.status(request.receiver, request.query.stream_id))

  fastify.post('/ssf/status', {
    bodyLimit: BODY_LIMIT,
    schema: {
      tags,
      security,
      summary: 'Set a stream\'s status',
      description: '`paused` holds events and sends them when the stream is enabled again; `disabled` holds none: once ' +
        'enabled again the stream carries only the events appended after that.',
      body: StatusBody,
      response: { 200: StreamStatus, ...errors({ 400: 'The body does not match the schema', ...guarded, ...noStream, ...raced }) }
    }
  }, async (request) => {
    const { stream_id: streamId, status, reason } = request.body
    const answer = await ssf().streams.setStatus(request.receiver, streamId, status, reason)
    request.log.info({ streamId, receiver: request.receiver, status }, 'ssf stream status set')
    return answer
  })

  fastify.post('/ssf/verify', {
    bodyLimit: BODY_LIMIT,
    schema: {
      tags,
      security,
      summary: 'Ask for a verification event',
      description: 'Queues a verification event (with `state`) on the stream, in order with its other events. At most ' +
        'one per `min_verification_interval` seconds (SSF_MIN_VERIFICATION_INTERVAL): more often is 429 with `Retry-After`.',
      body: VerifyBody,
      response: {
        204: NoContent,
        ...errors({
          400: 'The body does not match the schema',
          ...guarded,
          ...noStream,
          ...raced,
          429: { description: 'Within min_verification_interval of the last request (with `Retry-After`)', error: 'too_many_requests', message: 'one verification per 30 s (min_verification_interval)' }
        })
      }
    }
  }, async (request, reply) => {
    await ssf().streams.verify(request.receiver, request.body.stream_id, request.body.state)
    return reply.code(204).send()
  })

  fastify.post('/ssf/poll/:streamId', {
    bodyLimit: POLL_BODY_LIMIT,
    schema: {
      tags,
      security,
      summary: 'Poll a stream for SETs (RFC 8936)',
      description: 'Acknowledges the SETs in `ack` and `setErrs`, then answers the oldest SETs not yet acknowledged ' +
        '(at most `maxEvents`). Without `returnImmediately: true` and with none to send, it waits up to 25 s for one. ' +
        'An unacknowledged SET comes again, with the same jti.',
      params: PollParams,
      body: PollBody,
      response: {
        200: PollAnswer,
        ...errors({
          400: { description: 'The body does not match the schema, or the stream is a push stream', error: 'invalid_request', message: 'this stream is delivered by push, not poll' },
          ...guarded,
          ...noStream,
          ...raced
        })
      }
    }
  }, async (request, reply) => {
    const gone = new AbortController()
    // The receiver hung up: stop waiting for it.
    reply.raw.once('close', () => gone.abort())
    // A poll that waited checks its token and client again before it answers:
    // revocation, expiry, and the client's state and scope may have changed.
    const recheck = async (): Promise<void> => { await ssf().authorize(fastify.recheckAccess(request)) }
    return ssf().poll.poll(request.receiver, request.params.streamId, request.body, gone.signal, recheck)
  })
}

export default ssfRoutes
