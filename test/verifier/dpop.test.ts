// DPoP in @token-orchestrator/verifier, against a real service process
// (ES256): verify() with the proof and the request it came on, and the
// Fastify plugin's guard in a resource server on loopback, driven by
// oauth4webapi (its DPoP support) and by proofs made with jose.
import t from 'tap'
import Fastify from 'fastify'
import * as oauth from 'oauth4webapi'
import { createVerifier } from '@token-orchestrator/verifier'
import verifierPlugin from '@token-orchestrator/verifier/fastify'
import { basic } from '../support/clients.js'
import { dpopKey, refusesWhatIsNotItsProof, type DpopKey, type Surface } from '../support/dpop.js'
import { payloadOf, startService, within, type Service } from './support.js'

/** A client_credentials token bound to `key` (the proof made with jose). */
async function boundToken (service: Service, key: DpopKey, client: { clientId: string, clientSecret: string }): Promise<string> {
  const url = `${service.url}/oauth/token`
  const res = await service.call('POST', '/oauth/token', {
    headers: { authorization: basic(client.clientId, client.clientSecret), dpop: await key.proof({ method: 'POST', url }) },
    body: { grant_type: 'client_credentials' }
  })
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.access_token
}

t.test('verify() checks a bound token\'s proof; an unbound token needs none', async (t) => {
  const service = await startService(t)
  const reader = await service.createClient(['revocations:read'])
  const verifier = await createVerifier({ url: service.url, ...reader })
  t.teardown(() => verifier.close())
  const svc = await service.createClient([])
  const key = await dpopKey()
  const token = await boundToken(service, key, svc)
  const other = await boundToken(service, key, svc)
  t.same(payloadOf(token).cnf, { jkt: key.jkt })

  const request = { method: 'GET', url: 'https://api.example.com/orders' }
  t.match(verifier.verify(token), { valid: false, error: 'dpop_proof_required' }, 'without a proof: dpop_proof_required')
  const surface: Surface = async (tok, proof, req) => {
    const result = verifier.verify(tok, proof === undefined ? undefined : { proof, ...req })
    if (!result.valid && proof !== undefined) t.equal(result.error, 'invalid_dpop_proof')
    return result.valid
  }
  await refusesWhatIsNotItsProof(t, surface, token, other, key, request)

  const plain = await service.serviceToken(svc.clientId, svc.clientSecret)
  t.equal(verifier.verify(plain).valid, true, 'an unbound token: valid without a proof')
  t.equal(payloadOf(plain).cnf, undefined)
  t.ok(verifier.dpopAlgorithms.includes('ES256'))

  // A revoked bound token is refused before its proof is looked at.
  await service.call('POST', '/oauth/revoke', { headers: { authorization: basic(svc.clientId, svc.clientSecret) }, body: { token } })
  // Polled without a proof (a proof would be used up by the first poll): revocation is checked before the binding.
  await within(1500, () => { const r = verifier.verify(token); return !r.valid && r.error === 'revoked' })
  t.match(verifier.verify(token, { proof: await key.proof({ ...request, accessToken: token }), ...request }), { valid: false, error: 'revoked' })
})

t.test('the Fastify plugin: DPoP from oauth4webapi, refusals with a DPoP challenge', async (t) => {
  const service = await startService(t)
  const reader = await service.createClient(['revocations:read'])
  const api = Fastify({ logger: false })
  const publicUrl = 'https://api.example.com'
  await api.register(verifierPlugin, { url: service.url, ...reader, publicUrl })
  api.get('/orders', { preHandler: api.requireToken() }, async (request) => ({ client: request.token?.client_id ?? null }))
  api.get('/admin', { preHandler: api.requireToken('orders:admin') }, async () => ({ ok: true }))
  t.teardown(() => api.close())

  const svc = await service.createClient([])
  const issuer = new URL(service.url)
  const as = await oauth.processDiscoveryResponse(issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }))
  const client: oauth.Client = { client_id: svc.clientId }
  const key = await dpopKey()
  const DPoP = oauth.DPoP(client, key.keyPair)
  const tokens = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(svc.clientSecret), new URLSearchParams(),
      { DPoP, [oauth.allowInsecureRequests]: true }))
  t.equal(tokens.token_type, 'dpop')
  const token = tokens.access_token
  const other = await boundToken(service, key, svc)

  // oauth4webapi as the resource client: its requests go through api.inject, addressed to publicUrl.
  const injectFetch = async (url: string, init: { method: string, headers: Record<string, string> }): Promise<Response> => {
    const u = new URL(url)
    const res = await api.inject({ method: init.method as 'GET', url: u.pathname + u.search, headers: init.headers })
    return new Response(res.body, { status: res.statusCode, headers: res.headers as Record<string, string> })
  }
  const viaLib = await oauth.protectedResourceRequest(token, 'GET', new URL(`${publicUrl}/orders`), undefined, undefined,
    { DPoP, [oauth.customFetch]: injectFetch })
  t.equal(viaLib.status, 200, 'oauth4webapi\'s DPoP request: accepted')
  t.same(await viaLib.json(), { client: svc.clientId })

  const surface: Surface = async (tok, proof) => {
    const res = await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `DPoP ${tok}`, ...(proof !== undefined ? { dpop: proof } : {}) } })
    if (res.statusCode !== 200) {
      t.equal(res.statusCode, 401)
      t.match(res.headers['www-authenticate'], /^DPoP error="(invalid_token|invalid_dpop_proof)", algs="[^"]*ES256/)
    }
    return res.statusCode === 200
  }
  await refusesWhatIsNotItsProof(t, surface, token, other, key, { method: 'GET', url: `${publicUrl}/orders` })

  const asBearer = await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}` } })
  t.equal(asBearer.statusCode, 401, 'a bound token as a Bearer token: refused')
  t.match(asBearer.headers['www-authenticate'], /^DPoP error="invalid_token"/)
  const hostUrl = await api.inject({
    method: 'GET',
    url: '/orders',
    headers: { authorization: `DPoP ${token}`, dpop: await key.proof({ method: 'GET', url: 'http://localhost:80/orders', accessToken: token }) }
  })
  t.equal(hostUrl.statusCode, 401, 'with publicUrl set, a proof for the Host header\'s URL is refused')

  const noScope = await api.inject({
    method: 'GET', url: '/admin', headers: { authorization: `DPoP ${token}`, dpop: await key.proof({ method: 'GET', url: `${publicUrl}/admin`, accessToken: token }) }
  })
  t.equal(noScope.statusCode, 403)
  t.match(noScope.headers['www-authenticate'], /^DPoP error="insufficient_scope"/)

  const plain = await service.serviceToken(svc.clientId, svc.clientSecret)
  const bearer = await api.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${plain}` } })
  t.equal(bearer.statusCode, 200, 'an unbound Bearer token: accepted, no proof asked')
  const plainAsDpop = await api.inject({
    method: 'GET', url: '/orders', headers: { authorization: `DPoP ${plain}`, dpop: await key.proof({ method: 'GET', url: `${publicUrl}/orders`, accessToken: plain }) }
  })
  t.equal(plainAsDpop.statusCode, 401, 'an unbound token under the DPoP scheme: refused')
})
