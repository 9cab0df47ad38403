// The headers every answer carries, in one place: plugins/response-headers.ts
// sets them on each answer (an onSend hook) and server-options.ts on the
// answers made before any hook runs (`frameworkErrors`, and `rawAnswer` for
// requests Node's HTTP parser refuses).
// - `X-Request-Id`: the request's id, the `reqId` of its log lines
//   (request-id.ts decides it), so a client or gateway can quote it;
// - `X-Content-Type-Options: nosniff`;
// - `Cache-Control: no-store` unless the answer set a Cache-Control of its own
//   (the JWKS and the OAuth metadata do): tokens, identities and the errors
//   about them are never kept by a browser or a shared cache. A rule by path
//   prefix would miss the same routes reached through a percent-encoded path
//   (`/%61uth/login` is routed as `/auth/login`).
import { STATUS_CODES } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'

export function setAnswerHeaders (request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id)
  reply.header('x-content-type-options', 'nosniff')
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
}

/**
 * The same headers on an answer written straight to the socket, for requests
 * Node's HTTP parser refuses before any route or hook sees them (see
 * `clientErrorHandler` in server-options.ts). The connection is closed after it.
 */
export function rawAnswer (status: number, requestId: string, body: string): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'x-content-type-options: nosniff\r\n' +
    'cache-control: no-store\r\n' +
    'connection: close\r\n\r\n' + body
}
