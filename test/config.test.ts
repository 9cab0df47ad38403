// Configuration: defaults, validation messages naming the variable, secrets policy.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError, loadConfig, secretWeakness, workerCount } from '../src/main/config.js'

const strong = 'Zk3v9QdM2rT8wLzX4nB7pAq1s5u7w9y0'
const strong2 = 'kV2pN8rQ4tW6yZ1bD3fG5hJ7lM9nP0qR'

t.test('defaults match the documented table', async (t) => {
  const warnings: string[] = []
  const config = loadConfig({}, (w) => warnings.push(w))
  t.match(config, {
    PORT: 4000,
    HOST: '0.0.0.0',
    // RFC 9068: tokens' iss is the metadata's issuer, PUBLIC_URL (http://localhost:PORT by default).
    PUBLIC_URL: 'http://localhost:4000',
    JWT_ISSUER: 'http://localhost:4000',
    JWT_AUDIENCE: 'token-orchestrator',
    ACCESS_TOKEN_TTL: 900,
    REFRESH_TOKEN_TTL: 1209600,
    SESSION_MAX_LIFETIME: 2592000,
    REFRESH_REUSE_INTERVAL: 0,
    ALLOW_REGISTRATION: true,
    RATE_LIMIT_AUTH: 60,
    LOCKOUT_THRESHOLD: 5,
    LOCKOUT_SECONDS: 900,
    ARGON2_MEMORY_KIB: 19456,
    ARGON2_TIME_COST: 2,
    ARGON2_PARALLELISM: 1,
    LOG_LEVEL: 'info',
    TRUST_PROXY: false
  })
  t.equal(config.MONGODB_URL, undefined)
  t.ok(Buffer.byteLength(config.JWT_SECRET) >= 32, 'ephemeral secrets are strong')
  t.not(config.JWT_SECRET, config.REFRESH_TOKEN_SECRET)
  t.equal(warnings.length, 2, 'one warning per generated secret')
  t.match(warnings[0], /JWT_SECRET is not set/)
  t.equal(config.MONGODB_WRITE_CONCERN, 'majority')
})

t.test('production refuses a long secret that is not random; development warns', async (t) => {
  const weak = [
    ['a'.repeat(40), /only 1 distinct character/],
    ['abababababababababababababababababab', /only 2 distinct characters/],
    ['0123456789abcdef'.repeat(3), /runs of neighbouring characters/],
    ['Zk3v9QdM2rT8wLzX'.repeat(3), /a piece of 16 characters repeated/],
    ['abcdefghijklmnopqrstuvwxyz0123456789', /runs of neighbouring characters/],
    ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1234567890', /makes up half of it/],
    ['my-super-secret-jwt-key-for-production-2024', /the word "secret"/],
    ['ACME-COMPANY-SIGNING-KEY-FOR-TOKENS-2026-Q4', /the word "token"/]
  ] as const
  for (const [value, problem] of weak) {
    t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: value, REFRESH_TOKEN_SECRET: strong2 }),
      { name: 'ConfigError', message: /^JWT_SECRET is too weak when NODE_ENV=production/ }, value)
    t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: strong, REFRESH_TOKEN_SECRET: value }),
      { message: problem }, `REFRESH_TOKEN_SECRET ${value}`)
    const warnings: string[] = []
    loadConfig({ JWT_SECRET: value, REFRESH_TOKEN_SECRET: strong2 }, (w) => warnings.push(w))
    t.match(warnings, [/JWT_SECRET is weak/], 'a warning outside production')
  }
  for (let i = 0; i < 200; i++) {
    t.equal(secretWeakness(randomBytes(16).toString('hex')), null, '16 random bytes in hex pass')
    t.equal(secretWeakness(randomBytes(24).toString('base64')), null, '24 random bytes in base64 pass')
    const hex = randomBytes(32).toString('hex')
    const base64 = randomBytes(48).toString('base64')
    const base64url = randomBytes(32).toString('base64url')
    t.doesNotThrow(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: hex, REFRESH_TOKEN_SECRET: base64, METRICS_TOKEN: 'a-metrics-token-0123456789' }), `hex ${hex} and base64 ${base64} pass`)
    t.equal(secretWeakness(base64url), null, `base64url ${base64url} passes`)
  }
  const jwt = randomBytes(32).toString('base64url')
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: jwt, REFRESH_TOKEN_SECRET: `${jwt}-R2` }),
    { message: /REFRESH_TOKEN_SECRET must not contain JWT_SECRET/ }, 'one secret derived from the other')
})

t.test('the configuration is the environment it is given, never the process environment under it', async (t) => {
  const saved = { MONGODB_URL: process.env.MONGODB_URL, PORT: process.env.PORT }
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  process.env.MONGODB_URL = 'mongodb://127.0.0.1:1/inherited'
  process.env.PORT = '4321'
  const config = loadConfig({ JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong2 })
  t.equal(config.MONGODB_URL, undefined, 'a shell MONGODB_URL does not turn a test onto MongoDB')
  t.equal(config.PORT, 4000)
  t.equal(loadConfig({ ...process.env, JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong2 }).MONGODB_URL,
    'mongodb://127.0.0.1:1/inherited', 'the server passes process.env itself')
})

t.test('values are parsed from strings', async (t) => {
  const config = loadConfig({ PORT: '8080', ALLOW_REGISTRATION: 'false', TRUST_PROXY: 'true', JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong2 })
  t.equal(config.PORT, 8080)
  t.equal(config.ALLOW_REGISTRATION, false)
  t.equal(config.TRUST_PROXY, true)
})

t.test('a bad value stops the start with a message naming the variable and the rule', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: '70000' }, /PORT must be <= 65535/],
    [{ PORT: 'abc' }, /PORT must be integer/],
    [{ ACCESS_TOKEN_TTL: '0' }, /ACCESS_TOKEN_TTL must be >= 1/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ MONGODB_URL: 'http://db' }, /MONGODB_URL must match pattern/],
    [{ MONGODB_WRITE_CONCERN: 'all' }, /MONGODB_WRITE_CONCERN must match pattern/],
    [{ WORKERS: '0' }, /WORKERS must match pattern/],
    [{ WORKERS: 'all' }, /WORKERS must match pattern/],
    [{ WORKERS: '2', SQLITE_PATH: ':memory:' }, /^WORKERS=2 needs a store the workers share: with SQLITE_PATH=:memory:/],
    [{ WORKERS: 'auto', SQLITE_PATH: ':memory:' }, /^WORKERS=auto needs a store the workers share/],
    [{ ARGON2_MEMORY_KIB: '1024' }, /ARGON2_MEMORY_KIB must be >= 8192/],
    [{ JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong }, /REFRESH_TOKEN_SECRET must differ from JWT_SECRET/],
    [{ REFRESH_TOKEN_TTL: '100', SESSION_MAX_LIFETIME: '50' }, /REFRESH_TOKEN_TTL must not exceed SESSION_MAX_LIFETIME/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  }
})

t.test('an unknown NODE_ENV is refused, with the allowed values', async (t) => {
  for (const value of ['prod', 'Production', 'staging', '']) {
    t.throws(() => loadConfig({ NODE_ENV: value }),
      new ConfigError('invalid configuration: NODE_ENV must be one of development, production, test'), JSON.stringify(value))
  }
  for (const value of ['development', 'production', 'test']) {
    const env = { NODE_ENV: value, JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong2 }
    t.equal(loadConfig(env).NODE_ENV, value)
  }
})

t.test('each schema error names the variable, the problem and the allowed values, once', async (t) => {
  const one = (env: Record<string, string>): string => {
    try {
      loadConfig(env)
    } catch (err) {
      return (err as Error).message
    }
    return 'no error'
  }
  t.equal(one({ JWT_ALGORITHM: 'XX' }), 'invalid configuration: JWT_ALGORITHM must be one of HS256, ES256, EdDSA, RS256')
  t.equal(one({ PORT: '70000' }), 'invalid configuration: PORT must be <= 65535 (allowed: a whole number from 0 to 65535)')
  t.equal(one({ ALLOW_REGISTRATION: 'maybe' }), 'invalid configuration: ALLOW_REGISTRATION must be boolean (allowed: true or false)')
  const several = one({ LOG_LEVEL: 'loud', JWT_ALGORITHM: 'XX', PORT: 'abc', ADMIN_PASSWORD: 'short' })
  t.equal(several, 'invalid configuration: PORT must be integer (allowed: a whole number from 0 to 65535); ' +
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; ' +
    'JWT_ALGORITHM must be one of HS256, ES256, EdDSA, RS256; ' +
    'ADMIN_PASSWORD must NOT have fewer than 8 characters (allowed: a string of 8 to 256 characters)', 'in the schema\'s order, each once')
  t.notMatch(several, /short/, 'the value itself is never echoed: it may be a secret')
  t.notMatch(several, /equal to constant|anyOf/)
})

t.test('production refuses missing or weak secrets, naming the variable', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), new ConfigError('JWT_SECRET is required when NODE_ENV=production'))
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: strong }),
    new ConfigError('REFRESH_TOKEN_SECRET is required when NODE_ENV=production'))
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short', REFRESH_TOKEN_SECRET: strong2 }),
    new ConfigError('JWT_SECRET must be at least 32 bytes when NODE_ENV=production'))
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong2 })
  t.equal(config.JWT_SECRET, strong)
})

t.test('outside production a weak secret only warns', async (t) => {
  const warnings: string[] = []
  loadConfig({ JWT_SECRET: 'short', REFRESH_TOKEN_SECRET: strong2 }, (w) => warnings.push(w))
  t.match(warnings, [/JWT_SECRET is shorter than 32 bytes/])
})

t.test('WORKERS: a number, or auto; unset is 1 in development and auto in production', async (t) => {
  const cores = (): number => 6
  const file = { SQLITE_PATH: 'data/x.sqlite' }
  t.equal(workerCount({ ...file, NODE_ENV: 'development' }, cores), 1, 'development: one process')
  t.equal(workerCount({ ...file, NODE_ENV: 'test' }, cores), 1)
  t.equal(workerCount({ ...file, NODE_ENV: 'production' }, cores), 6, 'production: every core')
  t.equal(workerCount({ ...file, NODE_ENV: 'production', WORKERS: '1' }, cores), 1, 'an explicit value wins')
  t.equal(workerCount({ ...file, NODE_ENV: 'development', WORKERS: 'auto' }, cores), 6)
  t.equal(workerCount({ ...file, NODE_ENV: 'development', WORKERS: '3' }, cores), 3)
  t.equal(workerCount({ SQLITE_PATH: ':memory:', NODE_ENV: 'production' }, cores), 1, 'production on :memory: stays one process')
  t.equal(workerCount({ SQLITE_PATH: ':memory:', NODE_ENV: 'production', WORKERS: '1' }, cores), 1, 'WORKERS=1 on :memory: is fine')
  t.equal(workerCount({ SQLITE_PATH: ':memory:', MONGODB_URL: 'mongodb://db/x', NODE_ENV: 'production', WORKERS: '4' }, cores), 4,
    'MongoDB is shared whatever SQLITE_PATH says')
  t.equal(loadConfig({ WORKERS: '3', SQLITE_PATH: 'data/x.sqlite' }).WORKERS, 3, 'loadConfig gives a number')
  t.equal(loadConfig({}).WORKERS, 1, 'the default outside production')
})
