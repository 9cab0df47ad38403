// Entry point: load the configuration, then serve as one process
// (WORKERS=1, src/main/serve.ts), or as the primary of WORKERS worker
// processes (src/main/primary.ts), each of which runs this same entry and serves.
import cluster from 'node:cluster'
import { existsSync } from 'node:fs'
import { ConfigError, type Config } from './config.js'
import { loadServiceConfig } from './dev-secrets.js'

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
