#!/usr/bin/env node
// The operator's command line (the package's `bin`): users, clients, signing
// keys, backup and restore, against the same configuration (environment and
// .env, read by loadConfig) and the same store (MONGODB_URL, else the SQLite
// file SQLITE_PATH) as the service. The commands are in ./cli/; results go to
// stdout as JSON, messages to stderr; exit 0 done, 1 refused, 2 usage error.
import { existsSync } from 'node:fs'
import { runCli } from './cli/program.js'

if (existsSync('.env')) process.loadEnvFile('.env')
process.exitCode = await runCli(process.argv.slice(2), process.env, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin
})
