// Fastify's own options, shared by server.ts and the test helper so tests run
// the server exactly as production does.
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { FastifyHttpOptions, FastifyRequest } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'
import { loggedUrl } from './redact.js'

/** Paths pino replaces with "[redacted]" wherever they appear in a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'password', '*.password',
  'token', '*.token',
  'access_token', '*.access_token',
  'refresh_token', '*.refresh_token',
  'client_secret', '*.client_secret'
]

/** Request ids taken from X-Request-Id only when they look like ids, so logs cannot be forged through them. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** `stream` sends the log somewhere other than stdout (tests capture it). */
export function serverOptions (
  config: Pick<Config, 'LOG_LEVEL' | 'TRUST_PROXY'>, stream?: DestinationStream
): FastifyHttpOptions<Server> {
  return {
    logger: config.LOG_LEVEL === 'silent'
      ? false
      : {
          level: config.LOG_LEVEL,
          redact: { paths: REDACT_PATHS, censor: '[redacted]' },
          serializers: {
            req: (req: FastifyRequest) => ({
              method: req.method,
              url: loggedUrl(req.url),
              host: req.host,
              remoteAddress: req.ip,
              remotePort: req.socket?.remotePort
            })
          },
          ...(stream !== undefined ? { stream } : {})
        },
    trustProxy: config.TRUST_PROXY,
    // A repeated header is joined ("Bearer a, Bearer b") instead of Node keeping the
    // first one silently: an ambiguous Authorization is then refused, not guessed at.
    http: { joinDuplicateHeaders: true },
    // A batch of 100 tokens fits comfortably; anything larger is refused with 413.
    bodyLimit: 256 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: (req) => {
      const incoming = req.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
    ajv: {
      customOptions: {
        // Reject rather than silently drop or coerce: strings only where strings are meant.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false
      }
    },
    routerOptions: { maxParamLength: 200 }
  }
}
