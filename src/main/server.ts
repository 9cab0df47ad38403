// Entry point: load the config, build Fastify with the shared options, register
// the app, listen, and close gracefully on SIGTERM/SIGINT.
import { existsSync } from 'node:fs'
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import app from './app.js'
import { ConfigError, type Config } from './config.js'
import { loadServiceConfig } from './dev-secrets.js'
import { prettyLogs, serverOptions } from './server-options.js'

if (existsSync('.env')) process.loadEnvFile('.env')

const warnings: string[] = []
let config: Config
try {
  config = await loadServiceConfig(process.env, (msg) => warnings.push(msg))
} catch (err) {
  // A bad value, or MongoDB unreachable while reading the development secrets it keeps.
  console.error(`token-orchestrator: ${err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`}`)
  process.exit(1)
}

const pretty = prettyLogs(config.LOG_FORMAT, {
  isTTY: process.stdout.isTTY === true,
  ci: process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false',
  nodeEnv: config.NODE_ENV
})
const server = Fastify(serverOptions(config, undefined, { pretty }))
for (const warning of warnings) server.log.warn(warning)

await server.register(app, { config })

// On SIGTERM/SIGINT: stop accepting connections, let the requests already
// received finish, then close the store and exit 0. Past SHUTDOWN_TIMEOUT,
// or on a second signal, exit 1. Keep-alive connections are the catch: Node
// closes the idle ones when the server closes, but a connection busy at that
// moment would stay open, idle, for the whole keep-alive timeout (72 s in
// Fastify) after its answer, and hold the shutdown up; so the timeout drops
// to 1 ms and each is closed as soon as its last answer is out.
closeWithGrace({
  delay: config.SHUTDOWN_TIMEOUT * 1000,
  logger: { error: (msg: unknown) => server.log.error(msg instanceof Error ? { err: msg } : { detail: msg }, 'shutdown') }
}, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after an error')
  else server.log.info({ signal }, 'closing: finishing in-flight requests')
  server.server.keepAliveTimeout = 1
  await server.close()
  server.log.info('closed')
})

try {
  await server.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  server.log.error({ err }, 'could not start')
  process.exit(1)
}
