// Service configuration: one TypeBox schema is both the boot-time validator
// (through @fastify/env / env-schema) and the source of the Config type.
import { randomBytes } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'
import {
  PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN
} from '../auth/accounts.js'
import { ADMIN_PASSWORD_RULE, adminPasswordProblem } from '../auth/admin-password.js'
import { DEFAULT_SQLITE_PATH } from '../store/location.js'

const Seconds = (def: number, min = 1) => Type.Integer({ minimum: min, default: def })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 4000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  MONGODB_URL: Type.Optional(Type.String({ pattern: '^mongodb(\\+srv)?://' })),
  MONGODB_WRITE_CONCERN: Type.String({ pattern: '^(majority|[1-9])$', default: 'majority' }),
  SQLITE_PATH: Type.String({ minLength: 1, default: DEFAULT_SQLITE_PATH }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 2000 }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  REFRESH_TOKEN_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'token-orchestrator' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'token-orchestrator' }),
  ACCESS_TOKEN_TTL: Seconds(900),
  REFRESH_TOKEN_TTL: Seconds(1_209_600),
  SESSION_MAX_LIFETIME: Seconds(2_592_000),
  REFRESH_REUSE_INTERVAL: Seconds(0, 0),
  ALLOW_REGISTRATION: Type.Boolean({ default: true }),
  RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 60 }),
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
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' })),
  ADMIN_USERNAME: Type.Optional(Type.String({ minLength: USERNAME_MIN_LENGTH, maxLength: USERNAME_MAX_LENGTH, pattern: USERNAME_PATTERN })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })),
  DOCS: Type.Union([Type.Literal('public'), Type.Literal('off')], { default: 'public' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$' }))
})

type RawConfig = Static<typeof ConfigSchema>

export type JwtAlgorithm = RawConfig['JWT_ALGORITHM']

/** Config after secrets are resolved: both keys and the public URL are always present. */
export type Config = Omit<RawConfig, 'JWT_SECRET' | 'REFRESH_TOKEN_SECRET' | 'PUBLIC_URL'> & {
  JWT_SECRET: string
  REFRESH_TOKEN_SECRET: string
  /** The issuer URL of the OAuth metadata, without a trailing slash. */
  PUBLIC_URL: string
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export const MIN_SECRET_BYTES = 32

/** Fewer distinct characters than this in a secret: typed by hand, not random. */
export const MIN_SECRET_DISTINCT = 10
const SECRET_RULE = `use ${MIN_SECRET_BYTES} random bytes or more, e.g. \`openssl rand -base64 48\``

/**
 * What makes a long enough secret guessable: too few distinct characters, or
 * one short piece repeated ("abcabcabc…"). A random secret of 32 bytes or
 * more, in any encoding, has neither. Null when none applies. Linear.
 */
export function secretWeakness (value: string): string | null {
  const distinct = new Set(value).size
  if (distinct < MIN_SECRET_DISTINCT) return `it has only ${distinct} distinct character${distinct === 1 ? '' : 's'}`
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

function describeEnvError (err: Error): string {
  // env-schema reports "env/PORT must be <= 65535"; turn it into "PORT must be <= 65535".
  return err.message.replace(/(^|, )env\//g, '$1').replace(/env must have required property/g, 'missing required variable')
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
  const config: Config = {
    ...raw,
    PUBLIC_URL: trimTrailingSlashes(raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`),
    JWT_SECRET: secret('JWT_SECRET'),
    REFRESH_TOKEN_SECRET: secret('REFRESH_TOKEN_SECRET')
  }
  if (config.JWT_SECRET === config.REFRESH_TOKEN_SECRET) {
    throw new ConfigError('REFRESH_TOKEN_SECRET must differ from JWT_SECRET')
  }
  if (config.REFRESH_TOKEN_TTL > config.SESSION_MAX_LIFETIME) {
    throw new ConfigError('REFRESH_TOKEN_TTL must not exceed SESSION_MAX_LIFETIME')
  }
  if (config.JWT_ALGORITHM !== 'HS256' && config.KEY_RING_SYNC_INTERVAL_MS >= config.KEY_ROTATION_OVERLAP * 1000) {
    // Otherwise an instance could meet tokens signed with a key it has not loaded yet.
    throw new ConfigError('KEY_RING_SYNC_INTERVAL_MS must be shorter than KEY_ROTATION_OVERLAP (in ms)')
  }
  checkAdmin(config, production, warn)
  checkMetrics(config, production, warn)
  if (production && config.DOCS === 'public') {
    warn('DOCS is public: GET /docs and /docs/json describe every route, the admin API included, to anyone who reaches them; set DOCS=off, or serve them only on an internal network')
  }
  return config
}

/** /metrics shows the runtime, heap and login counts: say so when production leaves it open. */
function checkMetrics (config: Config, production: boolean, warn: Warn): void {
  if (production && config.METRICS_TOKEN === undefined) {
    warn('METRICS_TOKEN is not set: GET /metrics answers anyone who reaches it; set it, or serve /metrics only on an internal network')
  }
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
