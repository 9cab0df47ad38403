// Summarizes a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_PROFILE=1
// npm run bench): self time by function and by package, heaviest first.
// Usage: node dist/bench/profile-summary.js bench-profiles/<file>.cpuprofile [top] [skip]
// `skip`: seconds at the start of the profile left out (start-up, module loading, warm-up).
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const file = process.argv[2]
if (file === undefined) throw new Error('usage: profile-summary <file.cpuprofile> [top]')
const top = Number(process.argv[3] ?? 25)
const skipUs = Number(process.argv[4] ?? 0) * 1e6
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
let elapsed = 0
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!
  elapsed += profile.timeDeltas[i] ?? 0
  if (elapsed < skipUs) continue
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
// Idle time is not cost: percentages are of the busy time.
for (const [id] of self) {
  if (byId.get(id)!.callFrame.functionName === '(idle)') self.delete(id)
}
const total = [...self.values()].reduce((a, b) => a + b, 0)

function where (url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) return 'node core'
  if (url === '') return '(native/V8)'
  const i = url.indexOf('/dist/')
  return i >= 0 ? url.slice(i + 1) : url
}

const fns = new Map<string, number>()
const pkgs = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)!
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  fns.set(fn, (fns.get(fn) ?? 0) + t)
  const pkg = where(n.callFrame.url)
  pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + t)
}
const pct = (t: number): string => `${((100 * t) / total).toFixed(1).padStart(5)}%`
process.stdout.write(`self time by package (busy ${(total / 1e6).toFixed(1)} s sampled, idle excluded)\n`)
for (const [k, t] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`${pct(t)}  ${k}\n`)
process.stdout.write(`\nself time by function (top ${top})\n`)
for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(t)}  ${k}\n`)

// Inclusive time: a function and everything it called, for the functions of
// this project and of the frameworks (where the per-request hooks show up).
const parentOf = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id)
const inclusive = new Map<string, number>()
for (const [id, t] of self) {
  const seen = new Set<string>()
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const n = byId.get(at)!
    const pkg = where(n.callFrame.url)
    if (pkg === 'node core' || pkg === '(native/V8)') continue
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${pkg}:${n.callFrame.lineNumber + 1}`
    if (seen.has(fn)) continue
    seen.add(fn)
    inclusive.set(fn, (inclusive.get(fn) ?? 0) + t)
  }
}
process.stdout.write(`\ninclusive time by function, packages only (top ${top})\n`)
for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(t)}  ${k}\n`)
