// Service configuration: one TypeBox schema is both the boot-time validator
// (through @fastify/env / env-schema) and the source of the Config type.
import { randomBytes } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'
import {
  PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN
} from '../auth/accounts.js'
import { ADMIN_PASSWORD_RULE, adminPasswordProblem } from '../auth/admin-password.js'
import { DEFAULT_SQLITE_PATH, MEMORY } from '../store/location.js'
import { availableCores } from './cores.js'
import { DPOP_ALGORITHMS, DPOP_WINDOW_SECONDS } from '@token-orchestrator/verifier/dpop'
import type { PreviousIssuers } from '@token-orchestrator/verifier/rules'

const Seconds = (def: number, min = 1) => Type.Integer({ minimum: min, default: def })
/** One DPoP proof algorithm of the allow-list. */
const DPOP_ALG = `(${DPOP_ALGORITHMS.join('|')})`
/** An RFC 3339 date-time with its offset (2026-07-01T00:00:00Z): no local time that moves with the machine. */
const ISO_DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$'

export const ConfigSchema = Type.Object({
  // Anything else is refused: a typo (`prod`) must not run with development's generated secrets.
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 4000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  // No schema default: unset means 1 in development and auto in production (workerCount).
  WORKERS: Type.Optional(Type.String({ pattern: '^(auto|[1-9][0-9]{0,2})$' })),
  MONGODB_URL: Type.Optional(Type.String({ pattern: '^mongodb(\\+srv)?://' })),
  MONGODB_WRITE_CONCERN: Type.String({ pattern: '^(majority|[1-9])$', default: 'majority' }),
  SQLITE_PATH: Type.String({ minLength: 1, default: DEFAULT_SQLITE_PATH }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 2000 }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  REFRESH_TOKEN_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ISSUER_PREVIOUS: Type.Optional(Type.String({ minLength: 1, pattern: '^[^\\s,]+(,[^\\s,]+)*$' })),
  JWT_ISSUER_PREVIOUS_UNTIL: Type.Optional(Type.String({ pattern: ISO_DATE_TIME })),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'token-orchestrator' }),
  ACCESS_TOKEN_TTL: Seconds(900),
  REFRESH_TOKEN_TTL: Seconds(1_209_600),
  SESSION_MAX_LIFETIME: Seconds(2_592_000),
  REFRESH_REUSE_INTERVAL: Seconds(0, 0),
  ALLOW_REGISTRATION: Type.Boolean({ default: true }),
  RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 60 }),
  RATE_LIMIT_FAILED_VERIFICATIONS: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 200 }),
  LOCKOUT_THRESHOLD: Type.Integer({ minimum: 1, default: 5 }),
  LOCKOUT_ACCOUNT_THRESHOLD: Type.Integer({ minimum: 1, default: 50 }),
  LOCKOUT_SECONDS: Seconds(900),
  CLIENT_SECRET_CACHE_SECONDS: Seconds(60, 0),
  ARGON2_MEMORY_KIB: Type.Integer({ minimum: 8192, maximum: 4_194_304, default: 19_456 }),
  ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  ARGON2_PARALLELISM: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info' }),
  LOG_FORMAT: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], { default: 'auto' }),
  TRUST_PROXY: Type.Boolean({ default: false }),
  REVOCATION_SYNC_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 500 }),
  SHUTDOWN_TIMEOUT: Seconds(10),
  REQUEST_TIMEOUT: Seconds(10),
  KEEP_ALIVE_TIMEOUT: Seconds(72),
  JWT_ALGORITHM: Type.Union([Type.Literal('HS256'), Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256')], {
    default: 'HS256'
  }),
  KEY_ROTATION_OVERLAP: Seconds(600),
  KEY_RING_SYNC_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 2000 }),
  CLIENT_SECRET_GRACE: Type.Integer({ minimum: 0, maximum: 2_592_000, default: 0 }),
  DPOP_ALGORITHMS: Type.String({ pattern: `^${DPOP_ALG}(,${DPOP_ALG})*$`, default: DPOP_ALGORITHMS.join(',') }),
  DPOP_PROOF_WINDOW: Type.Integer({ minimum: 5, maximum: 600, default: DPOP_WINDOW_SECONDS }),
  DPOP_REQUIRE_NONCE: Type.Boolean({ default: false }),
  DPOP_REPLAY_CACHE: Type.Union([Type.Literal('store'), Type.Literal('memory'), Type.Literal('redis')], { default: 'store' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' })),
  ADMIN_USERNAME: Type.Optional(Type.String({ minLength: USERNAME_MIN_LENGTH, maxLength: USERNAME_MAX_LENGTH, pattern: USERNAME_PATTERN })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })),
  DOCS: Type.Union([Type.Literal('public'), Type.Literal('off')], { default: 'public' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$' })),
  SSF_EMAIL_SUBJECTS: Type.Boolean({ default: false }),
  SSF_SYNC_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 500 }),
  SSF_PUSH_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  SSF_RETRY_MIN_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 1000 }),
  SSF_RETRY_MAX_MS: Type.Integer({ minimum: 10, maximum: 86_400_000, default: 300_000 }),
  SSF_LEASE_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  SSF_EVENT_RETENTION: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 604_800 }),
  SSF_MAX_STREAMS_PER_CLIENT: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  SSF_MIN_VERIFICATION_INTERVAL: Type.Integer({ minimum: 0, maximum: 86_400, default: 30 }),
  SSF_PUSH_ALLOWED_HOSTS: Type.Optional(Type.String({ maxLength: 4096, pattern: '^[A-Za-z0-9.:_-]+(,[A-Za-z0-9.:_-]+)*$' }))
})

type RawConfig = Static<typeof ConfigSchema>

export type JwtAlgorithm = RawConfig['JWT_ALGORITHM']

/** Config after secrets are resolved: both keys, the public URL, the issuer and the number of workers are always present. */
export type Config = Omit<RawConfig, 'JWT_SECRET' | 'REFRESH_TOKEN_SECRET' | 'PUBLIC_URL' | 'JWT_ISSUER' | 'WORKERS'> & {
  JWT_SECRET: string
  REFRESH_TOKEN_SECRET: string
  /** The issuer URL of the OAuth metadata, without a trailing slash. */
  PUBLIC_URL: string
  /** Worker processes on one port; 1 is a single process with no primary. */
  WORKERS: number
  /** `iss` of every token: JWT_ISSUER, or PUBLIC_URL (the metadata's `issuer`, as RFC 9068 wants) when unset. */
  JWT_ISSUER: string
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export const MIN_SECRET_BYTES = 32

/** Fewer distinct characters than this in a secret: typed by hand, not random. */
export const MIN_SECRET_DISTINCT = 8
const SECRET_RULE = `use ${MIN_SECRET_BYTES} random bytes or more, e.g. \`openssl rand -base64 48\``

/** Words a secret typed by a person is made of (looked for in single-case secrets only, see below). */
const SECRET_WORDS = ['secret', 'passw', 'token', 'produc', 'admin', 'change', 'example', 'sample', 'default',
  'qwerty', 'letmein', 'staging', 'develop', 'super', 'private', 'signing', 'refresh', 'access', 'company']

/**
 * What makes a long enough secret guessable: few distinct characters, one
 * character making up half of it, runs of neighbouring characters making up
 * half of it ("abcd", "4321"), one short piece repeated ("abcabc…"), or, in a
 * secret written in one case, words a person picks ("my-super-secret-key").
 * The bounds are far from what random secrets show: of 200,000 each of 16 and
 * 32 random bytes in hex, and 24 to 48 in base64 and base64url, none was
 * refused in a simulation (the tests draw a few hundred). Null when none
 * applies. Linear in the length.
 */
export function secretWeakness (value: string): string | null {
  const counts = new Map<string, number>()
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1)
  const distinct = counts.size
  if (distinct < MIN_SECRET_DISTINCT) return `it has only ${distinct} distinct character${distinct === 1 ? '' : 's'}`
  if (Math.max(...counts.values()) * 2 > value.length) return 'one character makes up half of it'
  let neighbours = 0
  for (let i = 1; i < value.length; i++) {
    if (Math.abs(value.charCodeAt(i) - value.charCodeAt(i - 1)) === 1) neighbours += 1
  }
  if (neighbours * 2 > value.length) return 'it is made of runs of neighbouring characters (abcd, 1234)'
  // Random base64 mixes cases; hex has no letter past f. A person writes in one case.
  if (value.toLowerCase() === value || value.toUpperCase() === value) {
    const lower = value.toLowerCase()
    const word = SECRET_WORDS.find((w) => lower.includes(w))
    if (word !== undefined) return `it contains the word "${word}"`
  }
  // The shortest period, from the prefix function (KMP): linear in the length.
  const border = new Array<number>(value.length).fill(0)
  for (let i = 1, k = 0; i < value.length; i++) {
    while (k > 0 && value[i] !== value[k]) k = border[k - 1]!
    if (value[i] === value[k]) k += 1
    border[i] = k
  }
  const period = value.length - border[value.length - 1]!
  if (period <= value.length / 2) return `it is a piece of ${period} characters repeated`
  return null
}

type Warn = (msg: string) => void

export type SecretName = 'JWT_SECRET' | 'REFRESH_TOKEN_SECRET'

/** Supplies, outside production, a secret the environment leaves unset. */
export interface SecretSource {
  /** A strong random secret for `name` (the same one each time if the source keeps it). */
  secret: (name: SecretName) => string
  /** How the secret is kept, for the warning ("NAME is not set: <note>"). */
  note: string
}

/** A new random secret per start: sessions and sealed keys do not survive a restart. */
export const ephemeralSecrets: SecretSource = {
  secret: () => randomBytes(48).toString('base64url'),
  note: 'using an ephemeral random secret; tokens will not survive a restart'
}

/** Picks the source of unset secrets from the configuration (undefined: ephemeral). */
export type SecretSourceFor = (raw: RawConfig) => SecretSource | undefined

/**
 * A loop, not `replace(/\/+$/, '')`: that regex retries at every slash of a run
 * that is not at the end, which is quadratic in the run's length.
 */
export function trimTrailingSlashes (url: string): string {
  let end = url.length
  while (end > 0 && url.charCodeAt(end - 1) === 47 /* / */) end -= 1
  return url.slice(0, end)
}

/**
 * Validates an environment (process.env plus overrides) against the schema,
 * then resolves secrets. Used by the server and by the CLI (with the same
 * secret source) so both read the same variables, and secrets, the same way.
 */
export function loadConfig (env: Record<string, string | undefined>, warn: Warn = () => {}, secrets?: SecretSourceFor): Config {
  let raw: RawConfig
  try {
    // Only `env`: env-schema would otherwise merge process.env under it, and a
    // caller (a test above all) that passes its own environment would inherit
    // whatever the shell has set, MONGODB_URL included.
    raw = envSchema<RawConfig>({ schema: ConfigSchema, data: env, dotenv: false, env: false })
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${describeEnvError(err as Error)}`)
  }
  return resolveConfig(raw, warn, secrets?.(raw) ?? ephemeralSecrets)
}

interface SchemaError { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

type PropertySchema = Record<string, unknown> & { anyOf?: Array<{ const?: unknown }> }

/**
 * One line per variable, in the schema's order: the variable, what is wrong
 * with its value and what it allows. Ajv reports a union of literals once per
 * literal ("must be equal to constant" four times) and never lists them; the
 * allowed values are read from the schema instead. The value itself is never
 * echoed: it may be a secret.
 */
function describeEnvError (err: Error & { errors?: SchemaError[] }): string {
  const errors = err.errors ?? []
  if (errors.length === 0) return err.message
  const byName = new Map<string, SchemaError[]>()
  for (const e of errors) {
    const name = e.keyword === 'required' ? String(e.params.missingProperty) : e.instancePath.replace(/^\//, '').split('/')[0] ?? ''
    byName.set(name, [...(byName.get(name) ?? []), e])
  }
  const properties = ConfigSchema.properties as Record<string, PropertySchema>
  const order = Object.keys(properties)
  return [...byName.entries()]
    .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
    .map(([name, list]) => describeVariable(name, list, properties[name]))
    .join('; ')
}

function describeVariable (name: string, errors: SchemaError[], schema: PropertySchema | undefined): string {
  const literals = schema?.anyOf?.map((s) => s.const).filter((c) => c !== undefined)
  if (literals !== undefined && literals.length > 0) return `${name} must be one of ${literals.join(', ')}`
  const first = errors.find((e) => e.keyword !== 'anyOf') ?? errors[0]
  const problem = first?.keyword === 'required' ? 'is required' : first?.message ?? 'is invalid'
  const allowed = schema === undefined ? undefined : allowedValues(schema, first?.keyword)
  return allowed === undefined ? `${name} ${problem}` : `${name} ${problem} (allowed: ${allowed})`
}

/** The schema's rule in words, for the error message, less what the failed keyword already says. */
function allowedValues (schema: PropertySchema, failed: string | undefined): string | undefined {
  const { type, minimum, maximum, minLength, maxLength, pattern } = schema as Record<string, unknown>
  if (type === 'boolean') return 'true or false'
  if (type === 'integer') {
    if (minimum !== undefined && maximum !== undefined) return `a whole number from ${String(minimum)} to ${String(maximum)}`
    if (minimum !== undefined) return `a whole number of at least ${String(minimum)}`
    return 'a whole number'
  }
  if (type !== 'string') return undefined
  const parts: string[] = []
  if (pattern !== undefined && failed !== 'pattern') parts.push(`matching ${String(pattern)}`)
  if (minLength !== undefined && maxLength !== undefined) parts.push(`of ${String(minLength)} to ${String(maxLength)} characters`)
  else if (minLength !== undefined) parts.push(`of at least ${String(minLength)} character${minLength === 1 ? '' : 's'}`)
  return parts.length === 0 ? undefined : `a string ${parts.join(', ')}`
}

/**
 * WORKERS as a number. Unset: `auto` in production, 1 elsewhere (one process
 * is what a developer debugs, watches and restarts), and 1 as well when the
 * store is `:memory:`, which every process would hold a database of its own.
 * Asked for explicitly, several workers on `:memory:` are refused.
 */
export function workerCount (raw: Pick<RawConfig, 'WORKERS' | 'NODE_ENV' | 'MONGODB_URL' | 'SQLITE_PATH'>, cores: () => number = availableCores): number {
  const unshared = raw.MONGODB_URL === undefined && raw.SQLITE_PATH === MEMORY
  if (raw.WORKERS === undefined) return raw.NODE_ENV === 'production' && !unshared ? cores() : 1
  const count = raw.WORKERS === 'auto' ? cores() : Number(raw.WORKERS)
  if (unshared && (count > 1 || raw.WORKERS === 'auto')) {
    throw new ConfigError(`WORKERS=${raw.WORKERS} needs a store the workers share: with SQLITE_PATH=:memory: each would have a database of its own; set SQLITE_PATH to a file, or MONGODB_URL`)
  }
  return count
}

export function resolveConfig (raw: RawConfig, warn: Warn, secrets: SecretSource = ephemeralSecrets): Config {
  const production = raw.NODE_ENV === 'production'
  const secret = (name: SecretName): string => {
    const value = raw[name]
    if (value === undefined) {
      if (production) throw new ConfigError(`${name} is required when NODE_ENV=production`)
      warn(`${name} is not set: ${secrets.note}`)
      return secrets.secret(name)
    }
    if (Buffer.byteLength(value) < MIN_SECRET_BYTES) {
      if (production) throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes when NODE_ENV=production`)
      warn(`${name} is shorter than ${MIN_SECRET_BYTES} bytes: acceptable only for development`)
      return value
    }
    const weakness = secretWeakness(value)
    if (weakness !== null) {
      if (production) throw new ConfigError(`${name} is too weak when NODE_ENV=production: ${weakness} (${SECRET_RULE})`)
      warn(`${name} is weak: ${weakness} (${SECRET_RULE}): acceptable only for development`)
    }
    return value
  }
  const publicUrl = trimTrailingSlashes(raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`)
  const config: Config = {
    ...raw,
    PUBLIC_URL: publicUrl,
    JWT_ISSUER: raw.JWT_ISSUER ?? publicUrl,
    WORKERS: workerCount(raw),
    JWT_SECRET: secret('JWT_SECRET'),
    REFRESH_TOKEN_SECRET: secret('REFRESH_TOKEN_SECRET')
  }
  if (config.JWT_SECRET === config.REFRESH_TOKEN_SECRET) {
    throw new ConfigError('REFRESH_TOKEN_SECRET must differ from JWT_SECRET')
  }
  if (config.DPOP_REPLAY_CACHE === 'redis' && config.REDIS_URL === undefined) {
    throw new ConfigError('DPOP_REPLAY_CACHE=redis needs REDIS_URL')
  }
  if (production && (config.JWT_SECRET.includes(config.REFRESH_TOKEN_SECRET) || config.REFRESH_TOKEN_SECRET.includes(config.JWT_SECRET))) {
    // One would give the other away: e.g. REFRESH_TOKEN_SECRET = JWT_SECRET + "-refresh".
    throw new ConfigError('REFRESH_TOKEN_SECRET must not contain JWT_SECRET, nor the other way round, when NODE_ENV=production')
  }
  if (config.REFRESH_TOKEN_TTL > config.SESSION_MAX_LIFETIME) {
    throw new ConfigError('REFRESH_TOKEN_TTL must not exceed SESSION_MAX_LIFETIME')
  }
  if (config.JWT_ALGORITHM !== 'HS256' && config.KEY_RING_SYNC_INTERVAL_MS >= config.KEY_ROTATION_OVERLAP * 1000) {
    // Otherwise an instance could meet tokens signed with a key it has not loaded yet.
    throw new ConfigError('KEY_RING_SYNC_INTERVAL_MS must be shorter than KEY_ROTATION_OVERLAP (in ms)')
  }
  checkPreviousIssuers(config, warn)
  checkAdmin(config, production, warn)
  checkMetrics(config, production, warn)
  if (production && config.DOCS === 'public') {
    warn('DOCS is public: GET /docs and /docs/json describe every route, the admin API included, to anyone who reaches them; set DOCS=off, or serve them only on an internal network')
  }
  checkSharedSignals(config)
  return config
}

/**
 * The issuers tokens may still carry after an issuer change (JWT_ISSUER_PREVIOUS,
 * until JWT_ISSUER_PREVIOUS_UNTIL), or undefined when no window is configured.
 * validate, gateway verify, introspection, refresh and the verifier package
 * (through the metadata) accept them until then; nothing is issued with them.
 */
export function previousIssuers (config: Pick<Config, 'JWT_ISSUER_PREVIOUS' | 'JWT_ISSUER_PREVIOUS_UNTIL'>): PreviousIssuers | undefined {
  if (config.JWT_ISSUER_PREVIOUS === undefined || config.JWT_ISSUER_PREVIOUS_UNTIL === undefined) return undefined
  return {
    issuers: [...new Set(config.JWT_ISSUER_PREVIOUS.split(','))],
    until: Math.floor(Date.parse(config.JWT_ISSUER_PREVIOUS_UNTIL) / 1000)
  }
}

/** The window is bounded: it must end, and within a session's lifetime (no token of the old issuer lives longer). */
function checkPreviousIssuers (config: Config, warn: Warn): void {
  const { JWT_ISSUER_PREVIOUS: previous, JWT_ISSUER_PREVIOUS_UNTIL: until } = config
  if ((previous === undefined) !== (until === undefined)) {
    throw new ConfigError('JWT_ISSUER_PREVIOUS and JWT_ISSUER_PREVIOUS_UNTIL must be set together: the previous issuers are accepted until that date-time')
  }
  const window = previousIssuers(config)
  if (window === undefined) return
  if (!Number.isFinite(window.until)) throw new ConfigError('JWT_ISSUER_PREVIOUS_UNTIL must be a valid date-time, e.g. 2026-07-01T00:00:00Z')
  if (window.issuers.includes(config.JWT_ISSUER)) throw new ConfigError('JWT_ISSUER_PREVIOUS must not name the current issuer (JWT_ISSUER, default PUBLIC_URL)')
  const nowSeconds = Math.floor(Date.now() / 1000)
  if (window.until > nowSeconds + config.SESSION_MAX_LIFETIME) {
    throw new ConfigError(`JWT_ISSUER_PREVIOUS_UNTIL must be at most SESSION_MAX_LIFETIME (${config.SESSION_MAX_LIFETIME} s) from now: ` +
      'no token of the previous issuer lives longer')
  }
  if (window.until <= nowSeconds) warn('JWT_ISSUER_PREVIOUS_UNTIL has passed: the previous issuers are refused; remove both variables')
}

/** /metrics shows the runtime, heap and login counts: say so when production leaves it open. */
function checkMetrics (config: Config, production: boolean, warn: Warn): void {
  if (production && config.METRICS_TOKEN === undefined) {
    warn('METRICS_TOKEN is not set: GET /metrics answers anyone who reaches it; set it, or serve /metrics only on an internal network')
  }
}

function checkSharedSignals (config: Config): void {
  if (config.SSF_RETRY_MIN_MS > config.SSF_RETRY_MAX_MS) throw new ConfigError('SSF_RETRY_MIN_MS must not exceed SSF_RETRY_MAX_MS')
  // The lease outlives a POST that runs to its timeout, so no other instance starts on the stream meanwhile.
  if (config.SSF_LEASE_SECONDS * 1000 < 2 * config.SSF_PUSH_TIMEOUT_MS) {
    throw new ConfigError('SSF_LEASE_SECONDS must be at least twice SSF_PUSH_TIMEOUT_MS (in seconds)')
  }
}

/** SSF_PUSH_ALLOWED_HOSTS as a set of lower-cased hosts. */
export function allowedPushHosts (config: Config): Set<string> {
  return new Set((config.SSF_PUSH_ALLOWED_HOSTS ?? '').split(',').filter((h) => h !== '').map((h) => h.toLowerCase()))
}

function checkAdmin (config: Config, production: boolean, warn: Warn): void {
  const { ADMIN_USERNAME: username, ADMIN_PASSWORD: password } = config
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError('ADMIN_USERNAME and ADMIN_PASSWORD must be set together')
  }
  if (password === undefined) return
  const problem = adminPasswordProblem(password, username)
  if (problem === null) return
  if (production) throw new ConfigError(`ADMIN_PASSWORD is too weak when NODE_ENV=production: ${problem} (${ADMIN_PASSWORD_RULE})`)
  warn(`ADMIN_PASSWORD is weak: ${problem} (${ADMIN_PASSWORD_RULE}): acceptable only for development`)
}
