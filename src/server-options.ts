// Fastify's own options, shared by server.ts and the test helper so tests run
// the server exactly as production does.
import { randomUUID } from 'node:crypto'
import { LogController, type FastifyServerOptions } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'

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

/**
 * The hot routes: they answer thousands of times a second. Their per-request
 * "incoming request" / "request completed" lines are off unless LOG_LEVEL is
 * debug or trace (two JSON lines would cost more than the answer itself; see
 * docs/issue3.md), and their latency is recorded by a cheaper histogram (see
 * plugins/metrics.ts). Their failures (5xx) are still logged by the error handler.
 */
export const HOT_ROUTES: ReadonlySet<string> = new Set(['/token/validate', '/token/validate/batch', '/auth/verify', '/auth/verify/*'])

function requestLogging (level: string): LogController {
  if (level === 'debug' || level === 'trace') return new LogController()
  return new LogController({
    // Runs twice per request: the path from the raw URL, not request.routeOptions (a getter that builds an object).
    disableRequestLogging: (req) => {
      const url = req.url
      const query = url.indexOf('?')
      const path = query === -1 ? url : url.slice(0, query)
      return HOT_ROUTES.has(path) || path.startsWith('/auth/verify/')
    }
  })
}

/** `stream` sends the log somewhere other than stdout (tests capture it). */
export function serverOptions (
  config: Pick<Config, 'LOG_LEVEL' | 'TRUST_PROXY'>, stream?: DestinationStream
): FastifyServerOptions {
  return {
    logger: config.LOG_LEVEL === 'silent'
      ? false
      : { level: config.LOG_LEVEL, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, ...(stream !== undefined ? { stream } : {}) },
    logController: requestLogging(config.LOG_LEVEL),
    trustProxy: config.TRUST_PROXY,
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
