// Client authentication without HTTP, with an injected clock: the memory of
// verified secrets (argon2 once per lifetime, never for a wrong secret, dropped
// on disable or a secret change) and the throttle of failed authentications.
import t, { type Test } from 'tap'
import { ClientService } from '../../src/clients/clients.js'
import { VerifiedSecrets } from '../../src/clients/verified-secrets.js'
import { ClientThrottle } from '../../src/oauth/client-throttle.js'
import { PasswordHasher } from '../../src/auth/passwords.js'
import { RevocationFollower, RevocationList } from '../../src/revocation/revocation-list.js'
import { memoryStore } from '../support/stores.js'

class CountingHasher extends PasswordHasher {
  verifications = 0
  override async verify (hash: string | null, password: string): Promise<boolean> {
    this.verifications += 1
    return super.verify(hash, password)
  }
}

function setup (t: Test, ttlMs = 60_000) {
  let now = 1_000_000
  const store = memoryStore()
  t.teardown(() => store.close())
  const hasher = new CountingHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 })
  const verifiedSecrets = new VerifiedSecrets({ ttlMs, now: () => now })
  const clients = new ClientService({
    store,
    hasher,
    verifiedSecrets,
    follower: new RevocationFollower(new RevocationList(), store.revocations, { intervalMs: 1000 }),
    policy: { defaultAudience: 'token-orchestrator', accessTtl: 900, maxAccessTtl: 900, refreshTtl: 3600, sessionMaxLifetime: 7200 }
  })
  return { store, hasher, clients, verifiedSecrets, tick: (ms: number) => { now += ms } }
}

t.test('a verified secret is remembered for its lifetime: one argon2 per lifetime', async (t) => {
  const { hasher, clients, verifiedSecrets, tick } = setup(t)
  const { client, secret } = await clients.create({ name: 'rs' })
  if (secret === null) throw new Error('confidential client without a secret')
  for (let i = 0; i < 20; i++) {
    t.equal((await clients.authenticate(client.clientId, secret))?.clientId, client.clientId)
  }
  t.equal(hasher.verifications, 1, '20 authentications, one argon2 verification')
  t.equal(verifiedSecrets.size, 1)

  t.equal(await clients.authenticate(client.clientId, `${secret}x`), null, 'a wrong secret is not a hit')
  t.equal(hasher.verifications, 2, 'and costs a full verification')
  t.equal(await clients.authenticate(client.clientId, 'x', { cachedOnly: true }), null, 'cachedOnly: no argon2')
  t.equal(hasher.verifications, 2)

  tick(60_001)
  t.ok(await clients.authenticate(client.clientId, secret), 'after the lifetime')
  t.equal(hasher.verifications, 3, 'verified again')
})

t.test('disable drops the entry; a changed stored hash misses; public clients never authenticate', async (t) => {
  const { store, hasher, clients, verifiedSecrets } = setup(t)
  const { client, secret } = await clients.create({ name: 'rs' })
  if (secret === null) throw new Error('confidential client without a secret')
  await clients.authenticate(client.clientId, secret)
  await clients.disable(client.clientId)
  t.equal(verifiedSecrets.size, 0, 'forgotten on disable')
  t.equal(await clients.authenticate(client.clientId, secret), null, 'a disabled client does not authenticate')

  const other = await clients.create({ name: 'rs2' })
  if (other.secret === null) throw new Error('confidential client without a secret')
  await clients.authenticate(other.client.clientId, other.secret)
  const before = hasher.verifications
  // Another instance rotated the secret in the store: the remembered one must not pass.
  verifiedSecrets.remember(other.client.clientId, other.secret, other.client.secretHash ?? '')
  t.notOk(verifiedSecrets.has(other.client.clientId, other.secret, '$argon2id$another-hash'), 'bound to the stored hash')
  t.equal(hasher.verifications, before)

  const pub = await clients.create({ name: 'app', public: true })
  t.equal(pub.secret, null)
  t.equal((await store.clients.find(pub.client.clientId))?.secretHash, null)
  t.equal(await clients.authenticate(pub.client.clientId, ''), null, 'no secret verifies for a public client')
})

t.test('TTL 0 remembers nothing; the memory is bounded', async (t) => {
  const off = new VerifiedSecrets({ ttlMs: 0 })
  off.remember('a', 's', 'h')
  t.equal(off.size, 0)
  const small = new VerifiedSecrets({ ttlMs: 1000, maxEntries: 3 })
  for (const id of ['a', 'b', 'c', 'd']) small.remember(id, 's', 'h')
  t.equal(small.size, 3)
  t.notOk(small.has('a', 's', 'h'), 'the oldest went first')
  t.ok(small.has('d', 's', 'h'))
  t.notOk(small.has('d', 't', 'h'), 'another secret')
  t.notOk(small.has('d', 's', 'h2'), 'another stored hash')
})

t.test('throttle: locked after the threshold, for the lock period, per client_id and address; success clears', async (t) => {
  let now = 0
  const ip = '192.0.2.1'
  const throttle = new ClientThrottle({ threshold: 3, lockSeconds: 60, maxEntries: 100, now: () => now })
  throttle.failure('c', ip)
  throttle.failure('c', ip)
  t.equal(throttle.retryAfter('c', ip), null, 'below the threshold')
  throttle.success('c', ip)
  throttle.failure('c', ip)
  throttle.failure('c', ip)
  t.equal(throttle.retryAfter('c', ip), null, 'success started the count again')
  throttle.failure('c', ip)
  t.equal(throttle.retryAfter('c', ip), 60, 'locked')
  t.equal(throttle.retryAfter('other', ip), null, 'per client_id')
  t.equal(throttle.retryAfter('c', '192.0.2.2'), null, 'and per address')
  throttle.failure('c 192.0.2.1', '192.0.2.2')
  throttle.failure('c 192.0.2.1', '192.0.2.2')
  throttle.failure('c 192.0.2.1', '192.0.2.2')
  t.equal(throttle.retryAfter('192.0.2.2 c', '192.0.2.1'), null, 'an id with a space in it cannot pose as another pair')
  now += 59_500
  t.equal(throttle.retryAfter('c', ip), 1)
  now += 500
  t.equal(throttle.retryAfter('c', ip), null, 'unlocked after the period')

  const bounded = new ClientThrottle({ threshold: 1, lockSeconds: 60, maxEntries: 2, now: () => now })
  for (const id of ['x', 'y', 'z']) bounded.failure(id, ip)
  t.equal(bounded.retryAfter('x', ip), null, 'the oldest entry went first')
  t.equal(bounded.retryAfter('z', ip), 60)
})
