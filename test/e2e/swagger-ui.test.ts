// Swagger UI in a real browser: Debian's chromium, driven by playwright-core,
// loads /docs from the real server and must render one operation block for
// every operation in /docs/json, with no page error, no failed request to the
// server, and no request anywhere else (the docs work offline).
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { chromium } from 'playwright-core'
import { startServer } from '../support/server-process.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

t.test('Swagger UI renders every operation', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) to run the browser test`
}, async (t) => {
  const server = await startServer(t)
  const res = await fetch(`${server.url}/docs/json`)
  t.equal(res.status, 200)
  const doc = await res.json() as { paths: Record<string, Record<string, unknown>> }
  const expected: string[] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) if (item[method] !== undefined) expected.push(`${method.toUpperCase()} ${path}`)
  }
  t.ok(expected.length > 0, 'the document has operations')

  const userDataDir = mkdtempSync(join(tmpdir(), 'token-orchestrator-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS
  })
  t.teardown(async () => {
    await context.close()
    rmSync(userDataDir, { recursive: true, force: true })
  })
  const page = await context.newPage()
  const pageErrors: string[] = []
  const failed: string[] = []
  const elsewhere: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('requestfailed', (request) => failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText ?? ''}`))
  page.on('request', (request) => {
    const url = request.url()
    if (!url.startsWith(server.url) && !url.startsWith('data:')) elsewhere.push(url)
  })
  page.on('response', (response) => {
    if (response.url().startsWith(server.url) && response.status() >= 400) {
      failed.push(`${response.request().method()} ${response.url()}: ${response.status()}`)
    }
  })

  await page.goto(`${server.url}/docs`, { waitUntil: 'load' })
  // Swagger UI fetches ./json, then renders one .opblock per operation.
  await page.waitForFunction((n) => document.querySelectorAll('.opblock').length >= n, expected.length, { timeout: 20_000 })
  const rendered = await page.$$eval('.opblock', (blocks) => blocks.map((block) => {
    const method = block.querySelector('.opblock-summary-method')?.textContent ?? ''
    const path = block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''
    return `${method.trim().toUpperCase()} ${path}`
  }))
  t.same([...rendered].sort(), [...expected].sort(), 'one operation block per operation in /docs/json')
  for (const path of Object.keys(doc.paths)) {
    t.ok(rendered.some((r) => r.endsWith(` ${path}`)), `${path} is rendered`)
  }
  const title = await page.textContent('.info .title')
  t.match(title, /Token Orchestrator/, 'the title is rendered')
  t.same(await page.$$eval('.errors-wrapper', (els) => els.map((e) => e.textContent)), [], 'Swagger UI reports no errors')

  // An operation opens with its example request body and its responses.
  await page.click('.opblock-post:has([data-path="/auth/login"]) .opblock-summary-control')
  const login = page.locator('.opblock-post:has([data-path="/auth/login"])')
  await login.locator('.opblock-body').waitFor({ timeout: 10_000 })
  t.match(await login.locator('.opblock-body').textContent(), /alice@example\.com/, 'the example request body is shown')
  t.ok(await login.locator('.responses-table .response[data-code="401"]').count() > 0, 'its documented 401 is listed')

  t.same(pageErrors, [], 'no page errors')
  t.same(failed, [], 'no failed requests to the server')
  t.same(elsewhere, [], 'no requests anywhere but the server')
})
