// The benchmark's ceiling: a bare `Fastify({ logger: false })` serving the hot
// routes with the service's request and response schemas, answering constant
// bodies (bench/constant-routes.ts). Nothing else: no hooks, no request ids,
// no logger, none of the service's server options. Whatever the service loses
// against it is the cost of everything it does beyond routing, validating and
// serializing.
import Fastify from 'fastify'
import { constantRoutes } from './constant-routes.js'

const app = Fastify({ logger: false })
constantRoutes(app, { cacheControl: true })

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
