// Text an attacker chooses (a URL, a 404 message, a log line) goes through
// regular expressions before anything answers. Each must take time linear in
// its input: a backtracking pattern that rescans a run at every start position
// lets one request of a few kilobytes hold the event loop for a quarter of a
// second. Linear is checked by comparing the work at two sizes (n and 16n, best
// of several trials), never against a wall-clock threshold: a linear scan costs
// at most about 16 times as much at 16n, a quadratic one about 256 times. The
// bounds leave a factor of 4 for a shared, noisy machine on either side.
import { maxHeaderSize } from 'node:http'
import { Writable } from 'node:stream'
import t from 'tap'
import { build } from '../helper.js'
import { redactTokens } from '../../src/redact.js'
import { redactUrl } from '../../src/server-options.js'
import { trimTrailingSlashes } from '../../src/config.js'
import { EXAMPLE_ACCESS_TOKEN } from '../../routes/schemas.js'

/** Linear work grows at most 16x from n to 16n; quadratic 256x. */
const LINEAR_BOUND = 64

/** A hostile input against a benign one of the same length: about 1x when linear, hundreds of times when not. */
const BENIGN_BOUND = 16

/** The longest request line the server reads (Node refuses headers beyond this with 431). */
const MAX_URL = maxHeaderSize - 'GET  HTTP/1.1\r\n'.length

type Work = () => unknown | Promise<unknown>

/**
 * CPU nanoseconds this process spent on `reps` calls of `fn`. CPU time, not
 * wall-clock time: on a machine shared with other jobs, the wall clock also
 * counts the time other processes held the cores.
 */
async function time (fn: Work, reps: number): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < reps; i++) await fn()
  const { user, system } = process.cpuUsage(start)
  return (user + system) * 1000
}

/** How many calls of `fn` take 20 ms (at least one), after warming the JIT. */
async function calibrate (fn: Work): Promise<number> {
  let reps = 1
  while (reps < 4096 && await time(fn, reps) < 20e6) reps *= 4
  return reps
}

/**
 * Seconds per call of each of `fns`: the best of up to 5 timings of enough
 * calls to take 20 ms. The timings of the functions alternate, so that a busy
 * moment of a shared machine weighs on all of them alike; they stop once
 * two seconds are spent (a quadratic case takes seconds per call at the larger
 * size, and one timing of it is plenty).
 */
async function costs (...fns: Work[]): Promise<number[]> {
  const reps: number[] = []
  for (const fn of fns) reps.push(await calibrate(fn))
  const best = fns.map(() => Infinity)
  let spent = 0
  for (let trial = 0; trial < 5 && spent < 2e9; trial++) {
    for (const [i, fn] of fns.entries()) {
      const elapsed = await time(fn, reps[i]!)
      spent += elapsed
      best[i] = Math.min(best[i]!, elapsed / reps[i]!)
    }
  }
  return best.map((ns) => ns / 1e9)
}

/** How much more work `at(16n)` is than `at(n)`. */
async function growth (at: (length: number) => Work, n: number): Promise<number> {
  const [small, large] = await costs(at(n), at(16 * n))
  return large! / small!
}

/** `unit` repeated up to `length` characters. */
const run = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length)

/** Inputs that made a backtracking pattern rescan: runs that almost match, then fail at the end. */
const PATHOLOGICAL: Record<string, (length: number) => string> = {
  'eyJ without a dot': (length) => run('eyJ', length),
  'eyJ then a non-token character': (length) => run('eyJ', length - 1) + '!',
  'eyJ and dots': (length) => run('eyJ.', length),
  'a long header then dots': (length) => 'eyJ' + run('a', length - 6) + '...',
  'percent-encoded eyJ': (length) => run('%65yJ', length),
  'percent signs': (length) => run('%', length),
  'a half escape': (length) => run('%2', length)
}

t.test('redactTokens is linear on pathological text up to the longest URL', async (t) => {
  for (const [name, make] of Object.entries(PATHOLOGICAL)) {
    const ratio = await growth((length) => { const text = make(length); return () => redactTokens(text) }, Math.floor(MAX_URL / 16))
    t.ok(ratio < LINEAR_BOUND, `${name}: 16x the length costs ${ratio.toFixed(1)}x the work`)
  }
  // Log lines and messages are not bounded by the header size: a longer run.
  const ratio = await growth((length) => { const text = run('eyJ', length); return () => redactTokens(text) }, 4 * 1024)
  t.ok(ratio < LINEAR_BOUND, `eyJ in a 64 KiB log line: 16x the length costs ${ratio.toFixed(1)}x the work`)
})

t.test('redactTokens still redacts what it must, and only that', async (t) => {
  t.equal(redactTokens(`/api/${EXAMPLE_ACCESS_TOKEN}/x`), '/api/[redacted]/x')
  t.equal(redactTokens(`a ${EXAMPLE_ACCESS_TOKEN} b ${EXAMPLE_ACCESS_TOKEN}`), 'a [redacted] b [redacted]')
  const [header, payload] = EXAMPLE_ACCESS_TOKEN.split('.')
  t.equal(redactTokens(`/x/${header!}.${payload!}`), '/x/[redacted]', 'a token without its signature')
  t.equal(redactTokens(`eyJeyJeyJ/${EXAMPLE_ACCESS_TOKEN}`), 'eyJeyJeyJ/[redacted]', 'a dot-less run before a token is kept')
  t.equal(redactTokens('/eyJhbGciOi/x'), '/eyJhbGciOi/x', 'a lone header is not a token')
  t.equal(redactTokens('/users/42?sort=name.asc'), '/users/42?sort=name.asc')
})

t.test('the other patterns that see request text are linear too', async (t) => {
  const n = Math.floor(MAX_URL / 16)
  const cases: Record<string, (length: number) => () => unknown> = {
    'redactUrl, many parameters': (length) => { const url = '/x?' + run('token=a&', length); return () => redactUrl(url) },
    'redactUrl, one long name': (length) => { const url = '/x?' + run('access_token', length) + '=1'; return () => redactUrl(url) },
    'redactUrl, escapes': (length) => { const url = '/x?' + run('%2', length) + '=1'; return () => redactUrl(url) },
    'PUBLIC_URL trailing slashes': (length) => { const url = 'http://h' + run('/', length) + 'x'; return () => trimTrailingSlashes(url) }
  }
  for (const [name, at] of Object.entries(cases)) {
    const ratio = await growth(at, n)
    t.ok(ratio < LINEAR_BOUND, `${name}: 16x the length costs ${ratio.toFixed(1)}x the work`)
  }
  t.equal(trimTrailingSlashes('http://h/a///'), 'http://h/a')
  t.equal(trimTrailingSlashes('http://h'), 'http://h')
})

t.test('a request with a pathological URL of the maximum length is answered like a short one', async (t) => {
  // Logged at info, so every request line goes through the URL serializer.
  const sink = new Writable({ write (_chunk, _encoding, callback) { callback() } })
  const app = await build(t, { logStream: sink })
  const paths: Record<string, (length: number) => string> = {
    '404 path': (length) => '/' + run('eyJ', length - 1),
    '404 path with a final dot-less segment': (length) => '/api/' + run('eyJ', length - 6) + '/',
    'query of a logged route': (length) => '/health?x=' + run('eyJ', length - 10),
    'request id and query': (length) => '/health?' + run('eyJ=eyJ&', length - 8)
  }
  for (const [name, make] of Object.entries(paths)) {
    const at = (length: number) => {
      const url = make(length)
      return async () => {
        const res = await app.inject({ method: 'GET', url, headers: { 'x-request-id': run('a.', 1024) } })
        if (res.statusCode !== 404 && res.statusCode !== 200) throw new Error(`unexpected ${res.statusCode}`)
      }
    }
    const ratio = await growth(at, Math.floor(MAX_URL / 16))
    t.ok(ratio < LINEAR_BOUND, `${name}: 16x the length costs ${ratio.toFixed(1)}x the work`)
    // A benign URL of the same length: the pathological one costs about the same.
    const benignUrl = make(MAX_URL).replaceAll('eyJ', 'abc')
    const [benign, hostile] = await costs(async () => app.inject({ method: 'GET', url: benignUrl }), at(MAX_URL))
    t.ok(hostile! / benign! < BENIGN_BOUND, `${name}: ${(hostile! / benign!).toFixed(1)}x the cost of a benign URL as long`)
  }
  const res = await app.inject({ method: 'GET', url: '/' + run('eyJ', MAX_URL - 1) })
  t.equal(res.statusCode, 404)
  t.equal(res.json().error, 'not_found')
})

t.test('redactTokens sees through percent-escapes, and keeps everything else as it came', async (t) => {
  const token = EXAMPLE_ACCESS_TOKEN
  t.equal(redactTokens(`/a/${token.replaceAll('.', '%2E')}/b`), '/a/[redacted]/b')
  t.equal(redactTokens(`/a/${token.replaceAll('.', '%2e')}?x=%20`), '/a/[redacted]?x=%20')
  t.equal(redactTokens(`/a%20b/%65%79%4A${token.slice(3)}%2`), '/a%20b/[redacted]%2', 'an escaped eyJ; a trailing half escape kept')
  t.equal(redactTokens('/a%2Eb/%zz/%E2%82%AC/eyJx%2F'), '/a%2Eb/%zz/%E2%82%AC/eyJx%2F', 'no token: the text is unchanged')
  t.equal(redactTokens(`${token}%2E`), '[redacted]%2E', 'a third dot is not part of the token')
  t.equal(redactTokens('%'), '%')
})
