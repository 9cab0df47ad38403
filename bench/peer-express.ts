// Benchmark peer: the original stack, Express 5 + jsonwebtoken, answering the
// same validate request with the same JSON body shape.
import express from 'express'
import jwt from 'jsonwebtoken'

const secret = process.env.JWT_SECRET!
const options = { algorithms: ['HS256' as const], issuer: process.env.JWT_ISSUER!, audience: process.env.JWT_AUDIENCE! }

const app = express()
app.use(express.json())
app.post('/token/validate', (req, res) => {
  const token = (req.body as { token?: unknown } | undefined)?.token
  if (typeof token !== 'string') {
    res.status(400).json({ error: 'invalid_request', message: 'body/token must be a string' })
    return
  }
  res.set('cache-control', 'no-store')
  try {
    res.json({ valid: true, claims: jwt.verify(token, secret, options) })
  } catch {
    res.json({ valid: false, error: 'invalid_signature' })
  }
})
app.get('/health', (_req, res) => { res.json({ status: 'ok' }) })
// The JSON error a team would send for a body express.json() refuses (the warm-up
// sends malformed bodies), instead of Express's default, which prints the stack.
app.use((err: { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  const status = typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500
  res.status(status).json({ error: status === 500 ? 'server_error' : 'invalid_request', message: 'the request could not be read' })
})

const server = app.listen(Number(process.env.PORT), '127.0.0.1')
process.on('SIGTERM', () => { server.close(() => process.exit(0)) })
