// `engines` tells the truth and a fresh `npm ci` is quiet: every package the
// lock file installs accepts the Node.js that runs this suite (what npm checks
// when it prints EBADENGINE), and every Node.js the root package's `engines`
// admits (semver.subset: the whole range, not one version of it).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import semver from 'semver'
import t from 'tap'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const json = (path: string): any => JSON.parse(readFileSync(join(ROOT, path), 'utf8'))

interface LockEntry { version?: string, dev?: boolean, optional?: boolean, engines?: { node?: string } | string[] }

const lock = json('package-lock.json') as { packages: Record<string, LockEntry> }
const root = json('package.json') as { engines: { node: string } }
const verifier = json('packages/verifier/package.json') as { engines: { node: string } }

const nodeRange = (entry: LockEntry): string | undefined =>
  Array.isArray(entry.engines) ? undefined : entry.engines?.node

t.test('every locked package accepts the running Node.js: npm ci prints no engine warning', async (t) => {
  const refused = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && nodeRange(entry) !== undefined &&
      !semver.satisfies(process.version, nodeRange(entry) ?? '*', { includePrerelease: true }))
    .map(([path, entry]) => `${path}@${entry.version ?? ''} wants node ${nodeRange(entry) ?? ''}`)
  t.same(refused, [], `Node.js ${process.version}`)
})

t.test('engines admits only Node.js versions every locked package accepts', async (t) => {
  t.ok(semver.satisfies(process.version, root.engines.node), 'the running Node.js is one engines admits')
  t.ok(semver.intersects(root.engines.node, '20.x'), 'Node.js 20 stays supported')
  const narrower = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && nodeRange(entry) !== undefined &&
      !semver.subset(root.engines.node, nodeRange(entry) ?? '*'))
    .map(([path, entry]) => `${path}@${entry.version ?? ''} wants node ${nodeRange(entry) ?? ''}`)
  t.same(narrower, [], `engines.node ${root.engines.node}`)
  t.ok(semver.subset(root.engines.node, verifier.engines.node), 'the verifier runs wherever the service does')
})
