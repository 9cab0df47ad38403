import t from 'tap'
import { build, newSession, validate } from './helper.js'

t.test('smoke', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const v = await validate(app, s.access_token)
  t.equal(v.valid, true)
})
