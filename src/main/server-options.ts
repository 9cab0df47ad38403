// Fastify's own options, shared by server.ts and the test helper so tests run
// the server exactly as production does.
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { LogController, type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { pino, type DestinationStream } from 'pino'
import type { Config } from './config.js'
import { codeForStatus } from '../errors.js'
import { redactTokens } from './redact.js'
import { isQuiet, requestLoggerFactory } from './request-logger.js'
import { requestIdGenerator } from './request-id.js'
import { rawAnswer, setAnswerHeaders } from './answer-headers.js'

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log line.
 * Fastify's own request lines carry no headers or bodies (see `req` below);
 * these cover what code may log on purpose or by mistake: a request, its
 * headers or body, a token pair, a client, the config.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'headers["proxy-authorization"]', 'headers["x-api-key"]',
  '*.headers.authorization', '*.headers.cookie', '*.headers["proxy-authorization"]', '*.headers["x-api-key"]',
  'authorization', '*.authorization',
  'cookie', '*.cookie',
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  'tokens', '*.tokens',
  'access_token', '*.access_token', '*.*.access_token',
  'refresh_token', '*.refresh_token', '*.*.refresh_token',
  'id_token', '*.id_token',
  'client_secret', '*.client_secret', '*.*.client_secret',
  'secret', '*.secret',
  'JWT_SECRET', '*.JWT_SECRET',
  'REFRESH_TOKEN_SECRET', '*.REFRESH_TOKEN_SECRET',
  'ADMIN_PASSWORD', '*.ADMIN_PASSWORD',
  'MONGODB_URL', '*.MONGODB_URL',
  'REDIS_URL', '*.REDIS_URL'
]

/**
 * Query parameters whose values never reach the log (a client may put a token
 * in a URL by mistake): any name that contains one of these words, whatever
 * surrounds it (`client_secret[]`, `my.password`, `client_assertion`).
 */
const SECRET_QUERY_PARAMS = /token|pass|^pwd?$|secret|^cs$|code|assertion|key|authorization|cred|session|^sig(nature)?$|jwt|bearer|^otp$/i

/** The shortest value taken for a secret by its looks alone. */
const SECRET_VALUE_MIN = 16

/**
 * Whether a parameter value looks like a secret or a token whatever its name:
 * at least SECRET_VALUE_MIN characters, all of the kinds tokens, keys and
 * session ids are written with (base64, base64url, hex, percent-escapes), and
 * varied enough to be random (letters and digits, many distinct characters),
 * so that words, paths and numbers stay readable. One pass.
 */
export function looksSecret (value: string): boolean {
  if (value.length < SECRET_VALUE_MIN) return false
  let letters = 0
  let digits = 0
  const seen = new Set<number>()
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) letters += 1
    else if (c >= 48 && c <= 57) digits += 1
    else if (c !== 45 && c !== 95 && c !== 46 && c !== 126 && c !== 43 && c !== 47 && c !== 61 && c !== 37) return false
    if (seen.size < 10) seen.add(c)
  }
  return letters > 0 && digits > 0 && seen.size >= 10
}

/** A `name=value` pair with its value replaced when the name or the value says it is secret. */
function redactPair (pair: string): string {
  const eq = pair.indexOf('=')
  if (eq === -1) return pair
  let name = pair.slice(0, eq)
  try { name = decodeURIComponent(name.replace(/\+/g, ' ')) } catch { /* keep it raw */ }
  return SECRET_QUERY_PARAMS.test(name) || looksSecret(pair.slice(eq + 1)) ? `${pair.slice(0, eq)}=[redacted]` : pair
}

/** Matrix parameters of a path (`/a;jsessionid=…/b`), each redacted like a query parameter. */
function redactPath (path: string): string {
  if (!path.includes(';')) return path
  return path.split('/').map((segment) => {
    const semi = segment.indexOf(';')
    if (semi === -1) return segment
    return segment.slice(0, semi) + segment.slice(semi).split(/(;)/).map((part, i) => i % 2 === 1 ? part : redactPair(part)).join('')
  }).join('/')
}

/** Where the router ends the path: at the first `?` or `#` (find-my-way reads both as the query's start). */
function queryStart (url: string): number {
  const q = url.indexOf('?')
  const hash = url.indexOf('#')
  return q === -1 ? hash : hash === -1 ? q : Math.min(q, hash)
}

/** `user:password@` of an absolute-form request target, replaced. */
function redactUserinfo (target: string): string {
  if (target.charCodeAt(0) === 47 /* '/' */) return target
  const scheme = target.indexOf('://')
  if (scheme === -1) return target
  const end = target.slice(scheme + 3).search(/[/?#]/)
  const authority = end === -1 ? target.slice(scheme + 3) : target.slice(scheme + 3, scheme + 3 + end)
  const at = authority.lastIndexOf('@')
  return at === -1 ? target : `${target.slice(0, scheme + 3)}[redacted]@${target.slice(scheme + 3 + at + 1)}`
}

/**
 * The URL as logged: userinfo of an absolute-form target replaced, and the
 * values of query and matrix parameters whose name or value looks secret (the
 * query starts at `?` or `#`; pairs split on `&`, `;` and `#`). Linear: each
 * character is looked at a bounded number of times.
 */
export function redactUrl (url: string): string {
  const q = queryStart(url)
  if (q === -1) return redactPath(redactUserinfo(url))
  // Pairs at even indexes, the separators between them at odd ones.
  const parts = url.slice(q + 1).split(/([&;#])/).map((pair, i) => i % 2 === 1 ? pair : redactPair(pair))
  return `${redactPath(redactUserinfo(url.slice(0, q)))}${url[q]!}${parts.join('')}`
}

/**
 * How the log is written: `json` (one pino JSON object a line, for collectors),
 * `pretty` (pino-pretty, for a person at a terminal), or `auto`: pretty only
 * when stdout is a terminal and this is neither CI nor a test.
 */
export function prettyLogs (format: Config['LOG_FORMAT'], env: { isTTY: boolean, ci: boolean, nodeEnv: string }): boolean {
  if (format !== 'auto') return format === 'pretty'
  return env.isTTY && !env.ci && env.nodeEnv !== 'test'
}

/**
 * The hot routes: they answer thousands of times a second. Their per-request
 * "incoming request" / "request completed" lines are off unless LOG_LEVEL is
 * debug or trace (two JSON lines would cost more than the answer itself).
 * Their failures (5xx) are still logged by the error handler.
 */
export const HOT_ROUTES: ReadonlySet<string> = new Set(['/token/validate', '/token/validate/batch', '/auth/verify', '/auth/verify/*'])

/**
 * Whether a request URL is one of the hot routes (query string ignored). The
 * router also takes percent-encoded paths (`/%74oken/validate`) and the
 * absolute form (`http://host/token/validate`); they are read as it reads
 * them, or a client could turn the hot routes' request lines on at will.
 */
export function isHotUrl (url: string): boolean {
  const query = queryStart(url)
  let path = query === -1 ? url : url.slice(0, query)
  if (path.charCodeAt(0) !== 47 /* '/' */) {
    const authority = path.indexOf('//')
    const slash = authority === -1 ? -1 : path.indexOf('/', authority + 2)
    path = slash === -1 ? '/' : path.slice(slash)
  }
  if (path.includes('%')) {
    try { path = decodeURIComponent(path) } catch { return false }
  }
  return HOT_ROUTES.has(path) || path.startsWith('/auth/verify/')
}

const noisy = (): boolean => false

/**
 * Each request's logger is a RequestLogger (src/main/request-logger.ts): the
 * pino child with its reqId is built only when a line is written, and the
 * request lines of the hot routes are off below debug.
 */
function requestLogging (level: string): Pick<FastifyHttpOptions<Server>, 'logController' | 'childLoggerFactory'> {
  const verbose = level === 'debug' || level === 'trace'
  return {
    childLoggerFactory: requestLoggerFactory(level === 'silent' ? () => true : verbose ? noisy : isHotUrl),
    logController: verbose ? new LogController() : new LogController({ disableRequestLogging: (request) => isQuiet(request.log) })
  }
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large']
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a malformed
 * request line or header, headers over 16 kB, a missed deadline): the
 * service's `{error, message}` and the headers every answer carries, then the
 * connection is closed, as Fastify's own handler does. Only the error's code
 * is logged: Node attaches the raw bytes of the request, Authorization included.
 */
export function clientErrorHandler (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'the request is not valid HTTP']
  this.log.debug({ code: err.code, status }, 'refused by the HTTP parser')
  if (socket.writable) socket.write(rawAnswer(status, randomUUID(), JSON.stringify({ error: codeForStatus(status), message })))
  socket.destroy()
}

/**
 * `stream` sends the log somewhere other than stdout (tests capture it);
 * `pretty` (server.ts decides, see prettyLogs) formats it with pino-pretty.
 */
export function serverOptions (
  config: Pick<Config, 'LOG_LEVEL' | 'TRUST_PROXY' | 'REQUEST_TIMEOUT' | 'KEEP_ALIVE_TIMEOUT'>, stream?: DestinationStream, opts: { pretty?: boolean } = {}
): FastifyHttpOptions<Server> {
  return {
    // A logger even at LOG_LEVEL=silent (it writes nothing): with none, Fastify
    // keeps no start time for an answer and the latency histogram would read 0.
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        // Fastify's request serializer, with secret query values removed
        // from the URL, and JWT-shaped text anywhere in it (a token in a
        // path or an unknown parameter). Anything else logged as `req` is left to the redact paths.
        req: (req: FastifyRequest) => typeof req?.url !== 'string' || typeof req.method !== 'string'
          ? req as unknown as Record<string, unknown>
          : {
              method: req.method,
              url: redactTokens(redactUrl(req.url)),
              // Both can come from the client (Host, X-Forwarded-For behind a trusted proxy).
              host: typeof req.host === 'string' ? redactTokens(req.host) : req.host,
              remoteAddress: typeof req.ip === 'string' ? redactTokens(req.ip) : req.ip,
              remotePort: req.socket?.remotePort
            }
      },
      ...(stream !== undefined
        ? { stream }
        : opts.pretty === true
          ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
        // Synchronous writes to stdout. pino's default writes asynchronously
        // through libuv's thread pool, the one argon2 hashes on: under a
        // burst of logins every log line waited behind the queued hashes
        // (seconds), and what was queued was lost on a crash.
          : { stream: pino.destination({ dest: 1, sync: true }) })
    },
    ...requestLogging(config.LOG_LEVEL),
    trustProxy: config.TRUST_PROXY,
    // While closing, a request that still reaches us on an open keep-alive
    // connection is served (its answer says `Connection: close`) rather than
    // refused with Fastify's own 503, whose body is not our `{error, message}`.
    // New connections are refused from the start of the shutdown.
    return503OnClosing: false,
    // A client that trickles its headers or body holds a socket and its buffers
    // for as long as it likes unless the whole request has a deadline. Node
    // enforces it (and the one on headers alone, which must not be longer) when
    // it checks its connections, so they are checked often enough for the
    // deadline to mean something. A connection that opens and sends nothing is
    // held to the same headers deadline.
    requestTimeout: config.REQUEST_TIMEOUT * 1000,
    // Idle keep-alive connections between two requests.
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT * 1000,
    http: {
      headersTimeout: config.REQUEST_TIMEOUT * 1000,
      connectionsCheckingInterval: Math.min(1000, config.REQUEST_TIMEOUT * 500),
      // A repeated header is joined ("Bearer a, Bearer b") instead of Node keeping the
      // first one silently: an ambiguous Authorization is then refused, not guessed at.
      joinDuplicateHeaders: true
    },
    // A batch of 100 tokens fits comfortably; anything larger is refused with 413.
    bodyLimit: 256 * 1024,
    // A start on a busy machine (argon2 for the bootstrap admin, key generation,
    // opening the store) can take longer than Fastify's 10 s default: slow is not broken.
    pluginTimeout: 60_000,
    // Not `requestIdHeader: 'x-request-id'`: Fastify would then take the header
    // as it comes and never call genReqId, which checks it first.
    requestIdHeader: false,
    genReqId: requestIdGenerator(),
    ajv: {
      customOptions: {
        // Reject rather than silently drop or coerce: strings only where strings are meant.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false
      }
    },
    routerOptions: { maxParamLength: 200 },
    // Errors Fastify meets before any route or hook (a malformed percent-escape
    // in the path, FST_ERR_BAD_URL): the service's `{error, message}` and the
    // headers every answer carries (no onSend hook runs here), not Fastify's
    // own body. The message does not echo the URL.
    clientErrorHandler,
    frameworkErrors: (_error, request, reply: FastifyReply) => {
      setAnswerHeaders(request, reply)
      reply.code(400).send({ error: 'invalid_request', message: 'the request URL is not valid' })
    }
  }
}
