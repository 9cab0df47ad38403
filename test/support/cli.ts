// Runs the CLI (the package's bin) as an operator would, in a given working
// directory (default: an empty one with no .env) and with exactly the given
// environment (plus PATH).
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TEST_ENV } from '../helper.js'

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.js')

export interface Run { code: number | null, stdout: string, stderr: string }

/** Runs the CLI in `cwd` (default: an empty directory, no .env) with exactly `env` (plus PATH). */
export function cli (args: string[], env: Record<string, string> = {}, stdin?: string, cwd = tmpdir()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    const timer = setTimeout(() => child.kill(), 30_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(stdin ?? '')
  })
}

// Cheap argon2 and fixed secrets, as in the other tests; a throw-away database
// unless a test gives a working directory for the default file.
export const FILE_ENV = {
  JWT_SECRET: TEST_ENV.JWT_SECRET ?? '',
  REFRESH_TOKEN_SECRET: TEST_ENV.REFRESH_TOKEN_SECRET ?? '',
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_TIME_COST: '1'
}
export const ENV = { ...FILE_ENV, SQLITE_PATH: ':memory:' }
