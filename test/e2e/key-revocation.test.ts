// A leaked signing key, on real server processes sharing one SQLite file and an
// installed verifier following the second one's revocation feed: a key revoked
// on instance A (admin API), then its replacement revoked with the CLI, is
// refused by instance B and by the verifier within 1.5 s, and leaves B's JWKS;
// tokens B signed with the key while the revocation was on its way (a login
// loop racing it) are refused too, and the replacement takes over signing.
import { join } from 'node:path'
import t from 'tap'
import { createVerifier, type Verifier } from '@token-orchestrator/verifier'
import { eventually } from '../support/eventually.js'
import { cli, FILE_ENV } from '../support/cli.js'
import { scratchDir } from '../support/stores.js'
import { startService, type Service } from '../verifier/support.js'

// Two server processes and a CLI run on a possibly busy machine.
t.setTimeout(300_000)

const REFUSED_WITHIN_MS = 1500

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid

async function validate (service: Service, token: string): Promise<{ valid: boolean, error?: string }> {
  return (await service.call('POST', '/token/validate', { body: { token } })).body
}

async function jwksKids (service: Service): Promise<string[]> {
  return ((await service.call('GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>).map((k) => k.kid)
}

/** Polls until B and the verifier both refuse `token` as revoked and B's JWKS has dropped `kid`; the time from `since`. */
async function refusedEverywhere (b: Service, verifier: Verifier, token: string, kid: string, since: number): Promise<number> {
  await eventually(async () => {
    const remote = await validate(b, token)
    const local = verifier.verify(token)
    return remote.error === 'revoked' && local.valid === false && local.error === 'revoked' && !(await jwksKids(b)).includes(kid)
  })
  return Date.now() - since
}

t.test('a key revoked on one instance is refused on another and by a verifier within 1.5 s; so is one revoked by the CLI', async (t) => {
  const file = join(scratchDir(t), 'keys.sqlite')
  const a = await startService(t, { SQLITE_PATH: file })
  // One service: both instances name the same issuer.
  const b = await startService(t, { SQLITE_PATH: file, PUBLIC_URL: a.url })
  const { clientId, clientSecret } = await b.createClient(['revocations:read'])
  const verifier = await createVerifier({ url: b.url, clientId, clientSecret })
  t.teardown(() => verifier.close())

  const session = await a.newSession()
  const leaked = kidOf(session.access_token)
  const fromB = await b.login(session.username)
  t.equal(kidOf(fromB.access_token), leaked, 'both instances sign with the same key')
  t.equal(verifier.verify(session.access_token).valid, true)
  t.equal((await validate(b, fromB.access_token)).valid, true)

  // B keeps signing while the revocation is written on A and on its way to B.
  const racing: string[] = []
  const race = { stop: false }
  const loop = (async () => {
    while (!race.stop) racing.push((await b.login(session.username)).access_token)
  })()

  const admin = await a.adminToken()
  const revoked = await a.call('POST', `/admin/keys/${leaked}/revoke`, { headers: { authorization: `Bearer ${admin}` } })
  const revokedAt = Date.now()
  t.equal(revoked.status, 200)
  const replacement = revoked.body.replacement.kid as string
  t.notOk((await jwksKids(a)).includes(leaked), 'out of the revoking instance\'s JWKS at once')
  t.same(await validate(a, session.access_token), { valid: false, error: 'revoked' })

  const elapsed = await refusedEverywhere(b, verifier, fromB.access_token, leaked, revokedAt)
  t.ok(elapsed <= REFUSED_WITHIN_MS, `refused by instance B and the verifier, and out of B's JWKS, ${elapsed} ms after the revocation`)
  t.same(verifier.verify(session.access_token), { valid: false, error: 'revoked' })

  // B takes the replacement up; then every token of the race is judged by its key.
  await eventually(async () => kidOf((await b.login(session.username)).access_token) === replacement)
  race.stop = true
  await loop
  const signedWithLeaked = racing.filter((token) => kidOf(token) === leaked)
  const signedWithReplacement = racing.filter((token) => kidOf(token) === replacement)
  t.ok(racing.length > 0, `${racing.length} logins on B raced the revocation (${signedWithLeaked.length} signed with the revoked key)`)
  t.equal(signedWithLeaked.length + signedWithReplacement.length, racing.length, 'no token signed by another key')
  for (const token of signedWithLeaked) {
    t.same(await validate(b, token), { valid: false, error: 'revoked' })
    t.same(verifier.verify(token), { valid: false, error: 'revoked' })
  }
  for (const token of signedWithReplacement) {
    t.equal((await validate(a, token)).valid, true)
    t.equal(verifier.verify(token).valid, true, 'the verifier fetched the replacement key')
  }

  // The same through the CLI, against the service's store: the replacement is revoked in turn.
  const latest = (await b.login(session.username)).access_token
  t.equal(verifier.verify(latest).valid, true)
  const run = await cli(['keys', 'revoke', replacement], { ...FILE_ENV, SQLITE_PATH: file, JWT_ALGORITHM: 'ES256' })
  const ranAt = Date.now()
  t.equal(run.code, 0, run.stderr)
  const printed = JSON.parse(run.stdout)
  t.equal(printed.kid, replacement)
  t.type(printed.replacement.kid, 'string')
  const cliElapsed = await refusedEverywhere(b, verifier, latest, replacement, ranAt)
  t.ok(cliElapsed <= REFUSED_WITHIN_MS, `a key revoked by the CLI: refused by B and the verifier ${cliElapsed} ms after the CLI exited`)
  await eventually(async () => {
    const next = (await a.login(session.username)).access_token
    return kidOf(next) === printed.replacement.kid && verifier.verify(next).valid && (await validate(b, next)).valid
  })
  const again = await cli(['keys', 'revoke', replacement], { ...FILE_ENV, SQLITE_PATH: file, JWT_ALGORITHM: 'ES256' })
  t.equal(again.code, 1, 'a kid revoked already is refused')
  t.match(again.stderr, /no such signing key/)
})
