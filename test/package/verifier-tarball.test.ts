// @token-orchestrator/verifier as a resource server gets it: `npm pack` of the
// workspace, the tarball installed into an empty folder outside the
// repository (so nothing resolves through the checkout's node_modules), then
// imported there by plain Node.js (every export) and type-checked by tsc, and
// a resource server in that folder refusing a logged-out token.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { scratchDir } from '../support/stores.js'
import { startService } from '../verifier/support.js'

t.setTimeout(300_000)

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const version = (JSON.parse(readFileSync(join(ROOT, 'packages', 'verifier', 'package.json'), 'utf8')) as { version: string }).version

t.test('the packed verifier installs in an empty folder and works there', async (t) => {
  const out = scratchDir(t, 'verifier-pack-')
  // Packs the verifier as built by the test run (prepack only checks that dist/ exists).
  const packed = JSON.parse(execFileSync(NPM, ['pack', '-w', '@token-orchestrator/verifier', '--pack-destination', out, '--json'], {
    cwd: ROOT, encoding: 'utf8'
  })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = join(out, packed[0]?.filename ?? '')
  t.equal(packed[0]?.filename, `token-orchestrator-verifier-${version}.tgz`)
  const files = (packed[0]?.files ?? []).map((f) => f.path).sort()
  for (const file of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/fastify.js', 'dist/fastify.d.ts',
    'dist/rules.js', 'dist/rules.d.ts', 'dist/revocation-list.js', 'dist/revocation-list.d.ts']) {
    t.ok(files.includes(file), `the tarball has ${file}`)
  }
  t.same(files.filter((f) => !/^(LICENSE|README\.md|package\.json|dist\/[a-z-]+\.(js|d\.ts))$/.test(f)), [], 'and nothing else (no sources, maps, tests)')

  // An empty project outside the repository.
  const app = scratchDir(t, 'verifier-consumer-')
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'resource-server', private: true, type: 'module' }))
  // With @types/node, as any TypeScript project on Node.js has (fast-jwt's types name Buffer).
  const typesNode = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@types/node']
  const install = spawnSync(NPM, ['install', tarball, `@types/node@${typesNode ?? '20'}`, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app, encoding: 'utf8', timeout: 240_000
  })
  t.equal(install.status, 0, install.stderr)
  t.notMatch(install.stderr, /EBADENGINE|WARN/i, 'quietly')
  const installed = join(app, 'node_modules', '@token-orchestrator', 'verifier')
  t.ok(lstatSync(installed).isDirectory() && !lstatSync(installed).isSymbolicLink(), 'a copy, not a link into the checkout')
  t.ok(existsSync(join(app, 'node_modules', 'fast-jwt', 'package.json')), 'its dependency came with it')
  t.notOk(existsSync(join(app, 'node_modules', 'fastify')), 'fastify (an optional peer) did not')

  // Every export resolves with plain Node.js, the Fastify plugin included (it needs fastify only for types).
  writeFileSync(join(app, 'exports.mjs'), `
import { createVerifier, VerifierError } from '@token-orchestrator/verifier'
import * as rules from '@token-orchestrator/verifier/rules'
import { RevocationList } from '@token-orchestrator/verifier/revocation-list'
import plugin from '@token-orchestrator/verifier/fastify'
import pkg from '@token-orchestrator/verifier/package.json' with { type: 'json' }
console.log(JSON.stringify({ createVerifier: typeof createVerifier, VerifierError: typeof VerifierError, bearerToken: typeof rules.bearerToken,
  RevocationList: typeof RevocationList, plugin: typeof plugin, version: pkg.version }))
`)
  const exports = spawnSync(process.execPath, ['exports.mjs'], { cwd: app, encoding: 'utf8' })
  t.equal(exports.status, 0, exports.stderr)
  t.same(JSON.parse(exports.stdout), {
    createVerifier: 'function', VerifierError: 'function', bearerToken: 'function', RevocationList: 'function', plugin: 'function', version
  })

  // The types resolve from the installed package (nothing of the checkout's).
  mkdirSync(join(app, 'src'))
  writeFileSync(join(app, 'src', 'check.ts'), `
import { createVerifier, type Verifier, type VerifyResult, type AccessClaims } from '@token-orchestrator/verifier'
import { RevocationList } from '@token-orchestrator/verifier/revocation-list'
export async function start (): Promise<Verifier> {
  return createVerifier({ url: 'https://auth.example.com', clientId: 'id', clientSecret: 'secret', audience: 'orders-api' })
}
export function subject (result: VerifyResult): string | null {
  const claims: AccessClaims | null = result.valid ? result.claims : null
  return claims?.sub ?? null
}
export const list = new RevocationList()
// @ts-expect-error verify takes a token string
export const wrong = (v: Verifier): unknown => v.verify(42)
`)
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'], lib: ['ES2022'] },
    include: ['src/**/*.ts']
  }))
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' })
  t.equal(tsc.status, 0, tsc.stdout + tsc.stderr)

  // A resource server in that folder, against the real service: it accepts a session's token, and refuses it once logged out.
  const service = await startService(t)
  const { clientId, clientSecret } = await service.createClient(['revocations:read'])
  const session = await service.newSession()
  writeFileSync(join(app, 'resource-server.mjs'), `
import { createVerifier } from '@token-orchestrator/verifier'
const [url, clientId, clientSecret, access, refresh] = process.argv.slice(2)
const verifier = await createVerifier({ url, clientId, clientSecret, issuer: process.env.ISSUER })
const before = verifier.verify(access)
await fetch(url + '/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refresh }) })
let after = verifier.verify(access)
for (let i = 0; i < 200 && after.valid; i++) {
  await new Promise((resolve) => setTimeout(resolve, 50))
  after = verifier.verify(access)
}
await verifier.close()
console.log(JSON.stringify({ before: before.valid, after }))
`)
  const run = spawnSync(process.execPath, ['resource-server.mjs', service.url, clientId, clientSecret, session.access_token, session.refresh_token], {
    cwd: app, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', ISSUER: service.env.PUBLIC_URL ?? '' }
  })
  t.equal(run.status, 0, run.stderr)
  t.same(JSON.parse(run.stdout), { before: true, after: { valid: false, error: 'revoked' } })
})
