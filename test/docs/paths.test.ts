// Every repository path the documentation and the code comments mention
// exists. What counts as a path: a word that starts with one of the
// repository's top-level folders (src/, plugins/, routes/, test/, bench/,
// docs/, packages/, .ci/) or dist/ (the build of one of them), made of path
// characters only; and in Markdown, a relative link target. A path under
// dist/ names what the build makes, so it is checked against its source
// (dist/src/main/cli.js against src/main/cli.ts). A glob (test/**/*.ts)
// counts for the folder before its first wildcard. Placeholders (<FILE>,
// {name}) and absolute or URL paths are not repository paths.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const TOP = ['src', 'plugins', 'routes', 'test', 'bench', 'docs', 'packages', '.ci', 'dist']
const PATH = new RegExp(`(?<![\\w./@:-])((?:${TOP.map((d) => d.replace('.', '\\.')).join('|')})/[A-Za-z0-9._*/-]*)`, 'g')
const LINK = /\]\(([^)\s#]+)(?:#[^)]*)?\)/g

function filesUnder (dir: string, keep: (file: string) => boolean): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.name === 'node_modules' || entry.name === 'dist') continue
    if (entry.isDirectory()) out.push(...filesUnder(path, keep))
    else if (keep(path)) out.push(path)
  }
  return out
}

/** The source a path names: itself, or for dist/ the file the build compiles to it. */
function candidates (path: string): string[] {
  const clean = path.replace(/[.,;:]+$/, '').replace(/\/+$/, '')
  const wildcard = clean.indexOf('*')
  const fixed = wildcard === -1 ? clean : clean.slice(0, clean.lastIndexOf('/', wildcard))
  const m = /^(packages\/[^/]+\/)?dist\/(.*)$/.exec(fixed)
  if (m === null) return [fixed]
  const inner = (m[1] ?? '') + (m[1] !== undefined ? 'src/' : '') + (m[2] ?? '')
  return [inner, inner.replace(/\.js$/, '.ts'), inner.replace(/\.d\.ts$/, '.ts')]
}

const exists = (path: string): boolean => candidates(path).some((c) => c === '' || existsSync(join(ROOT, c)))

/** The text of a source file's comments (the rest is code, whose strings are checked by the tests that use them). */
function comments (source: string): string {
  return source.split('\n').filter((line) => /^\s*(\/\/|\/\*|\*)/.test(line) || /\s\/\/\s/.test(line))
    .map((line) => line.replace(/^.*?(\/\/|\/\*|\*)/, '')).join('\n')
}

const markdown = ['README.md', 'CHANGELOG.md', 'src/README.md', 'packages/verifier/README.md', ...filesUnder('docs', (f) => f.endsWith('.md'))]
const code = ['src', 'plugins', 'routes', 'test', 'bench', 'packages/verifier/src'].flatMap((d) => filesUnder(d, (f) => f.endsWith('.ts')))
const other = ['.env.sample', 'Dockerfile', 'compose.yaml', '.ci/run']

t.test('the rule finds paths and leaves out what is not one', async (t) => {
  const found = (text: string): string[] => [...text.matchAll(PATH)].map((m) => m[1] ?? '')
  t.same(found('see `src/main/cli.ts`, docs/api.md, and test/**/*.test.ts.'), ['src/main/cli.ts', 'docs/api.md', 'test/**/*.test.ts.'])
  t.same(found('https://example.com/src/x and /app/dist/src and @scope/src/x and a-src/x'), [], 'URLs, absolute and other paths')
  t.ok(exists('dist/src/main/cli.js'), 'dist/ names the build of its source')
  t.ok(exists('packages/verifier/dist/index.d.ts'))
  t.ok(exists('test/**/*.test.ts'), 'a glob counts for its folder')
  t.notOk(exists('src/main/nothing-here.ts'))
  t.notOk(exists('dist/src/cli.js'), 'the old CLI path')
})

t.test('every repository path mentioned in the docs, .env.sample and code comments exists', async (t) => {
  const missing: string[] = []
  const check = (file: string, text: string, links: boolean): void => {
    for (const m of text.matchAll(PATH)) {
      const path = m[1] ?? ''
      if (!exists(path)) missing.push(`${file}: ${path}`)
    }
    if (!links) return
    for (const m of text.matchAll(LINK)) {
      const target = m[1] ?? ''
      if (/^[a-z]+:/.test(target) || target.startsWith('/')) continue
      const resolved = normalize(join(dirname(file), target))
      if (resolved.startsWith('..') || !existsSync(join(ROOT, resolved))) missing.push(`${file}: link ${target}`)
    }
  }
  for (const file of markdown) check(file, readFileSync(join(ROOT, file), 'utf8'), true)
  for (const file of other) check(file, readFileSync(join(ROOT, file), 'utf8').split('\n').filter((l) => l.trimStart().startsWith('#')).join('\n'), false)
  for (const file of code) check(file, comments(readFileSync(join(ROOT, file), 'utf8')), false)
  t.same(missing, [], `${markdown.length + other.length + code.length} files read`)
  t.ok(markdown.length > 10 && code.length > 100, 'the files were found')
})
