// /admin/clients/:id/enable and /admin/clients/:id/secret: bringing a disabled
// client back, and rotating a client's secret. Guarded, as every file of this
// folder, by ./autohooks.ts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../plugins/schemas.js'
import { clientView } from '../../src/clients/clients.js'
import { Client, ClientIdParams, guarded, NewClientResponse } from './schemas.js'

export const RotatedSecretResponse = Type.Object({
  ...NewClientResponse.properties,
  previous_secret_expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Until when the old secret is still accepted (CLIENT_SECRET_GRACE); null: it is refused already'
  })
}, {
  description: 'The client with its new secret, shown this once',
  examples: [{
    ...(NewClientResponse.examples as Array<Record<string, unknown>>)[0],
    client_secret: 'Jr3dFh8sL1qWz7Xc0vBn5mKp2tYg6uEi9oAa4eRwQ2s',
    previous_secret_expires_at: null
  }]
})

const tags = ['admin']
const security = [{ bearerAuth: [] }]
const common = {
  400: { description: 'The path does not match the schema', error: 'invalid_request', message: 'params/id must NOT have more than 128 characters' },
  ...guarded,
  404: { description: 'No such client', error: 'not_found', message: 'no such client' }
}

const clientLifecycleRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/admin/clients/:id/enable', {
    schema: {
      tags,
      security,
      summary: 'Enable a client',
      description: 'The client can authenticate and get tokens again. Tokens it held before the disable stay refused ' +
        'until they expire (the disable\'s revocation covers every token issued up to a few seconds after it), and ' +
        'its sessions ended by the disable stay ended. Idempotent.',
      params: ClientIdParams,
      response: { 200: Client, ...errors({ ...common, 503: 'The store is unreachable; nothing was written' }) }
    }
  }, async (request) => {
    const client = await fastify.clients.enable(request.params.id)
    request.log.info({ clientId: client.clientId, by: request.principal?.sub }, 'client enabled')
    return clientView(client)
  })

  fastify.post('/admin/clients/:id/secret', {
    schema: {
      tags,
      security,
      summary: 'Rotate a client\'s secret',
      description: 'Returns the client with a new `client_secret`, shown this once (only its argon2id hash is ' +
        'stored). The old secret is refused from now on, or, when CLIENT_SECRET_GRACE is set, still accepted for ' +
        'that many seconds. Tokens already issued are not affected.',
      params: ClientIdParams,
      response: {
        200: RotatedSecretResponse,
        ...errors({ ...common, 503: 'The store is unreachable; the old secret is still the one' })
      }
    }
  }, async (request) => {
    const { client, secret } = await fastify.clients.rotateSecret(request.params.id)
    request.log.info({ clientId: client.clientId, by: request.principal?.sub }, 'client secret rotated')
    return {
      ...clientView(client),
      client_secret: secret,
      previous_secret_expires_at: client.previousSecret?.expiresAt.toISOString() ?? null
    }
  })
}

export default clientLifecycleRoutes
