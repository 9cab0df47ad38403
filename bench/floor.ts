// The benchmark's floor: the ceiling's constant answers (bench/constant-routes.ts)
// served the way the service serves every answer: its server options (logger
// at info with its per-request logger, request ids taken or generated,
// timeouts), its response-headers plugin (X-Request-Id, nosniff, no-store) and
// a route latency histogram fed from onSend as plugins/metrics does. Nothing
// is verified. The floor's distance to the ceiling is what those per-answer
// obligations cost; the service's distance to the floor is the cost of its own
// work (verification, the revocation check, counting).
import Fastify, { type RouteOptions } from 'fastify'
import { loadConfig } from '../src/main/config.js'
import { serverOptions } from '../src/main/server-options.js'
import responseHeaders from '../plugins/response-headers.js'
import { LATENCY_BUCKETS } from '../plugins/metrics/index.js'
import { addLatencyHook, RouteLatency } from '../plugins/metrics/route-latency.js'
import { constantRoutes } from './constant-routes.js'

const config = loadConfig(process.env)
const app = Fastify(serverOptions(config))
await app.register(responseHeaders)
app.addHook('onRoute', (route: RouteOptions) => { addLatencyHook(route, new RouteLatency(route.url ?? '', LATENCY_BUCKETS)) })
constantRoutes(app, { cacheControl: false })

await app.listen({ port: config.PORT, host: config.HOST })
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
