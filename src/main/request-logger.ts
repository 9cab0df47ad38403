// The per-request logger, built only when a line is written. Fastify gives each
// request a child of the app logger carrying its `reqId`; with pino, making that
// child runs the redaction over its bindings and allocates a logger, which on
// the hot routes (which write nothing at the default level) cost more than the
// answer itself. A RequestLogger holds the parent and the bindings, answers
// "is this level on?" from the parent's level, and creates the real pino child
// the first time a line passes that check, so every line written still carries
// `reqId`, the route's serializers and level, and goes through the redaction.
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import { pino, type Bindings, type ChildLoggerOptions, type LevelWithSilentOrString, type LogFn } from 'pino'

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>

const LEVEL_VALUES: Record<string, number> = { ...pino.levels.values, silent: Infinity }

/** The numeric level of a pino logger (FastifyBaseLogger does not declare it). */
function levelValue (logger: FastifyBaseLogger): number {
  const value = (logger as { levelVal?: number }).levelVal
  return value ?? LEVEL_VALUES[logger.level] ?? 0
}

export class RequestLogger implements FastifyBaseLogger {
  private real: FastifyBaseLogger | undefined = undefined
  /** The route's own level, when it sets one; otherwise the parent's, read at each call. */
  private readonly ownLevel: number | undefined

  declare fatal: LogFn
  declare error: LogFn
  declare warn: LogFn
  declare info: LogFn
  declare debug: LogFn
  declare trace: LogFn

  constructor (
    private readonly parent: FastifyBaseLogger,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
    /** Fastify's own request lines ("incoming request", "request completed") are off for this request. */
    readonly quiet: boolean
  ) {
    this.ownLevel = options.level === undefined ? undefined : LEVEL_VALUES[options.level]
  }

  /** The pino child, created on first use. */
  materialize (): FastifyBaseLogger {
    if (this.real === undefined) this.real = this.parent.child(this.childBindings, this.options)
    return this.real
  }

  /** Whether the real child exists yet (tests and the bench check that quiet requests never build it). */
  get materialized (): boolean {
    return this.real !== undefined
  }

  isLevelEnabled (level: string): boolean {
    const value = LEVEL_VALUES[level]
    return value !== undefined && value >= this.threshold()
  }

  /** The lowest level value written now. */
  threshold (): number {
    if (this.real !== undefined) return levelValue(this.real)
    return this.ownLevel ?? levelValue(this.parent)
  }

  get level (): LevelWithSilentOrString {
    return this.real?.level ?? this.options.level ?? this.parent.level
  }

  set level (level: LevelWithSilentOrString) {
    this.materialize().level = level
  }

  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialize().child(bindings, options)
  }
}

for (const name of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) {
  const value = pino.levels.values[name]!
  RequestLogger.prototype[name] = function (this: RequestLogger, ...args: unknown[]): void {
    if (value < this.threshold()) return
    const real = this.materialize() as unknown as Record<typeof name, (...a: unknown[]) => void>
    real[name](...args)
  } as LogFn
}

/**
 * Fastify's `childLoggerFactory`: a RequestLogger per request. `quiet(url)`
 * says whether Fastify's own request lines are off for that URL; it runs once
 * per request, here, rather than in the log controller (which asks twice).
 */
export function requestLoggerFactory (quiet: (url: string) => boolean): ChildLoggerFactory {
  return function (logger, bindings, options, rawReq) {
    return new RequestLogger(logger, bindings, options, quiet(rawReq.url ?? ''))
  }
}

/** For the log controller's `disableRequestLogging`: the request's logger said it is quiet. */
export function isQuiet (log: FastifyBaseLogger): boolean {
  return log instanceof RequestLogger && log.quiet
}
