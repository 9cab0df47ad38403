// Configuration: defaults, validation messages naming the variable, secrets policy.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/main/config.js'

const strong = 'a'.repeat(32)
const strong2 = 'b'.repeat(32)

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
    [{ ARGON2_MEMORY_KIB: '1024' }, /ARGON2_MEMORY_KIB must be >= 8192/],
    [{ JWT_SECRET: strong, REFRESH_TOKEN_SECRET: strong }, /REFRESH_TOKEN_SECRET must differ from JWT_SECRET/],
    [{ REFRESH_TOKEN_TTL: '100', SESSION_MAX_LIFETIME: '50' }, /REFRESH_TOKEN_TTL must not exceed SESSION_MAX_LIFETIME/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  }
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
