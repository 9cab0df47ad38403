// One serving process: build Fastify with the shared options, register the
// app, listen, and close gracefully on SIGTERM/SIGINT. server.ts runs it
// directly (WORKERS=1) or in each worker the primary forks (WORKERS > 1); a
// worker also closes when the primary asks it to, or when the primary is gone.
import cluster from 'node:cluster'
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import app from './app.js'
import type { Config } from './config.js'
import { isShutdownRequest } from './primary-messages.js'
import { prettyLogs, serverOptions } from './server-options.js'

export async function serve (config: Config, warnings: readonly string[]): Promise<void> {
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
  let closing = false
  const closer = closeWithGrace({
    delay: config.SHUTDOWN_TIMEOUT * 1000,
    logger: { error: (msg: unknown) => server.log.error(msg instanceof Error ? { err: msg } : { detail: msg }, 'shutdown') }
  }, async ({ signal, err }) => {
    closing = true
    if (err !== undefined) server.log.error({ err }, 'closing after an error')
    else server.log.info({ signal }, 'closing: finishing in-flight requests')
    server.server.keepAliveTimeout = 1
    await server.close()
    server.log.info('closed')
  })

  if (cluster.isWorker) {
    // The primary drains its workers this way rather than by a signal: after a
    // Ctrl-C, which reaches every process of the group, a forwarded signal
    // would be a second one, and close-with-grace exits 1 on a second signal.
    const close = (): void => { if (!closing) closer.close() }
    process.on('message', (message) => { if (isShutdownRequest(message)) close() })
    // The primary is gone (killed): nothing would restart or drain this worker.
    process.on('disconnect', close)
  }

  try {
    await server.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    server.log.error({ err }, 'could not start')
    process.exit(1)
  }
}
