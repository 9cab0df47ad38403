// RequestLogger: the per-request pino child is built only when a line passes
// the level check, and then writes exactly what pino's own child would.
import { Writable } from 'node:stream'
import t from 'tap'
import { pino } from 'pino'
import { isQuiet, RequestLogger, requestLoggerFactory } from '../../src/main/request-logger.js'

function setup (level = 'info'): { root: pino.Logger, lines: () => Array<Record<string, unknown>>, children: () => number } {
  const chunks: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _e, cb) { chunks.push(chunk.toString()); cb() } })
  const root = pino({ level, redact: { paths: ['password', '*.password'], censor: '[redacted]' } }, stream)
  const child = root.child
  let children = 0
  // Children inherit this own property: `this` keeps each call on the logger it was made on.
  root.child = function (this: pino.Logger, ...args: Parameters<typeof child>) { children += 1; return child.apply(this, args) } as typeof root.child
  return {
    root,
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    children: () => children
  }
}

t.test('below the level: no line, no child', async (t) => {
  const { root, lines, children } = setup('info')
  const log = new RequestLogger(root, { reqId: 'r1' }, {}, false)
  log.debug('not written')
  log.trace({ a: 1 }, 'not written')
  t.equal(lines().length, 0)
  t.equal(children(), 0)
  t.equal(log.materialized, false)
  t.equal(log.level, 'info', 'the level is the parent\'s')
  t.equal(log.isLevelEnabled('info'), true)
  t.equal(log.isLevelEnabled('debug'), false)
  t.equal(log.isLevelEnabled('nonsense'), false)
})

t.test('the first line written builds the child once, with the bindings and the redaction', async (t) => {
  const { root, lines, children } = setup('info')
  const log = new RequestLogger(root, { reqId: 'r2' }, {}, false)
  log.info({ user: { name: 'a', password: 'hunter2' } }, 'first')
  log.error(new Error('boom'))
  log.warn('third %s', 'line')
  log.fatal('fourth')
  t.equal(children(), 1)
  t.equal(log.materialized, true)
  const written = lines()
  t.same(written.map((l) => l.reqId), ['r2', 'r2', 'r2', 'r2'])
  t.match(written[0], { msg: 'first', user: { name: 'a', password: '[redacted]' } })
  t.match(written[1], { level: 50, err: { message: 'boom' } })
  t.equal(written[2]!.msg, 'third line')
})

t.test('a route level and a level set on the request logger are honoured', async (t) => {
  const { root, lines } = setup('info')
  const quietRoute = new RequestLogger(root, { reqId: 'r3' }, { level: 'warn' }, false)
  quietRoute.info('dropped')
  t.equal(quietRoute.materialized, false)
  t.equal(quietRoute.level, 'warn')
  quietRoute.warn('kept')
  t.same(lines().map((l) => l.msg), ['kept'])

  const verbose = new RequestLogger(root, { reqId: 'r4' }, {}, false)
  verbose.level = 'debug'
  verbose.debug('now written')
  t.equal(verbose.level, 'debug')
  t.same(lines().map((l) => l.msg), ['kept', 'now written'])
  verbose.silent()
  t.equal(lines().length, 2)
})

t.test('the parent\'s level is read when the line is written', async (t) => {
  const { root, lines } = setup('info')
  const log = new RequestLogger(root, { reqId: 'r5' }, {}, false)
  root.level = 'debug'
  log.debug('written after the parent went to debug')
  t.same(lines().map((l) => l.reqId), ['r5'])
})

t.test('child() builds the request logger and derives from it', async (t) => {
  const { root, lines } = setup('info')
  const log = new RequestLogger(root, { reqId: 'r6' }, {}, false)
  log.child({ part: 'x' }).info('from a grandchild')
  t.match(lines()[0], { reqId: 'r6', part: 'x', msg: 'from a grandchild' })
})

t.test('requestLoggerFactory marks the quiet URLs', async (t) => {
  const { root } = setup('info')
  const factory = requestLoggerFactory((url) => url.startsWith('/hot'))
  const call = (url: string | undefined): ReturnType<typeof factory> =>
    factory.call(undefined as never, root, { reqId: 'r' }, {}, { url } as never)
  t.equal(isQuiet(call('/hot?x=1')), true)
  t.equal(isQuiet(call('/cold')), false)
  t.equal(isQuiet(call(undefined)), false)
  t.equal(isQuiet(root), false, 'a plain pino logger is never quiet')
})
