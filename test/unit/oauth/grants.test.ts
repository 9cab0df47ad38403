// The token endpoint without HTTP: the dispatcher picks the grant, the client
// must be allowed it, and each grant issues what it should.
import t from 'tap'
import { PASSWORD } from '../../helper.js'
import { codeOf, domain } from '../../support/domain.js'

t.test('client_credentials: a confidential client gets a token for itself, with its allowed scopes', async (t) => {
  const { clients, oauth, tokens } = domain(t)
  const { client, secret } = await clients.create({ name: 'orders', grants: ['client_credentials'], scopes: ['orders:read'] })
  if (secret === null) throw new Error('no secret')
  const presented = { clientId: client.clientId, secret, method: 'client_secret_post' as const, from: '127.0.0.1' }
  const answer = await oauth.token({ grant_type: 'client_credentials' }, presented, '127.0.0.1')
  t.equal(answer.scope, 'orders:read')
  const verified = tokens.verifyAccess(answer.access_token)
  t.ok(verified.ok && verified.claims.sub === client.clientId, 'sub is the client id')
  t.equal(await codeOf(oauth.token({ grant_type: 'client_credentials', scope: 'orders:write' }, presented, '127.0.0.1')), 'invalid_scope')
  t.equal(await codeOf(oauth.token({ grant_type: 'password', username: 'x', password: 'y' }, presented, '127.0.0.1')), 'unauthorized_client')
  t.equal(await codeOf(oauth.token({ grant_type: 'client_credentials' }, { ...presented, secret: 'wrong' }, '127.0.0.1')), 'invalid_client')
})

t.test('password and refresh_token for the public default client; unknown grants refused', async (t) => {
  const { auth, oauth } = domain(t)
  await auth.register('gina', PASSWORD)
  const pair = await oauth.token({ grant_type: 'password', username: 'gina', password: PASSWORD }, null, '127.0.0.1')
  if (!('refresh_token' in pair)) throw new Error('no refresh token')
  const next = await oauth.token({ grant_type: 'refresh_token', refresh_token: pair.refresh_token }, null, '127.0.0.1')
  t.ok('refresh_token' in next && next.refresh_token !== pair.refresh_token, 'rotated')
  t.equal(await codeOf(oauth.token({ grant_type: 'password', username: 'gina', password: 'nope nope' }, null, '127.0.0.1')), 'invalid_grant')
  t.equal(await codeOf(oauth.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }, null, '127.0.0.1')), 'unsupported_grant_type')
  t.equal(await codeOf(oauth.token({}, null, '127.0.0.1')), 'invalid_request')
  t.equal(await codeOf(oauth.token({ grant_type: 'client_credentials' }, null, '127.0.0.1')), 'invalid_client')
})
