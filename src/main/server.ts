// Entry point: load the configuration, then serve as one process
// (WORKERS=1, src/main/serve.ts), or as the primary of WORKERS worker
// processes (src/main/primary.ts), each of which runs this same entry and serves.
import cluster from 'node:cluster'
import { existsSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { ConfigError, type Config } from './config.js'
import { loadServiceConfig } from './dev-secrets.js'

// Every request runs the same code in Fastify and in our hooks, and each
// encapsulated plugin gives its requests and replies a class of their own. V8
// stops specialising a property access once it has seen more than 4 shapes
// (the default); a service that has answered its other routes for a while then
// serves the hot routes through generic lookups. Allowing 8 keeps those sites
// polymorphic: measured on warmed services in interleaved rounds, hot validate
// went from 0.78 to 0.97 of a fresh service's rate (docs/benchmark.md). Read by
// V8 whenever an inline cache changes state, so setting it here, before any
// request, covers them all.
setFlagsFromString('--max-valid-polymorphic-map-count=8')

if (existsSync('.env')) process.loadEnvFile('.env')

const warnings: string[] = []
let config: Config
try {
  // In the primary this also creates the development secrets, once, before any worker reads them.
  config = await loadServiceConfig(process.env, (msg) => warnings.push(msg))
} catch (err) {
  // A bad value, or MongoDB unreachable while reading the development secrets it keeps.
  console.error(`token-orchestrator: ${err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`}`)
  process.exit(1)
}

if (cluster.isPrimary && config.WORKERS > 1) {
  const { runPrimary } = await import('./primary.js')
  runPrimary(config, warnings)
} else {
  const { serve } = await import('./serve.js')
  // A worker's warnings are the primary's, logged once there.
  await serve(config, cluster.isWorker ? [] : warnings)
}
