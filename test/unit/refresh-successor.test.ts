import t from 'tap'
import { openSuccessor, sealSuccessor } from '../../src/auth/refresh-successor.js'

const pair = { accessToken: 'a.b.c', refreshToken: 'd.e.f', accessExp: 10, refreshExp: 20 }

t.test('only the presented token opens its sealed successor', async (t) => {
  const sealed = sealSuccessor('token-one', 'sid-1', pair)
  t.notOk(sealed.includes('a.b.c'))
  t.same(openSuccessor('token-one', 'sid-1', sealed), pair)
  t.equal(openSuccessor('token-two', 'sid-1', sealed), null, 'another token')
  t.equal(openSuccessor('token-one', 'sid-2', sealed), null, 'another session')
  const [iv, tag, body] = sealed.split('.')
  const flipped = `${iv}.${tag}.${body!.slice(0, -2)}AA`
  t.equal(openSuccessor('token-one', 'sid-1', flipped), null, 'tampered')
  t.equal(openSuccessor('token-one', 'sid-1', 'not-sealed'), null, 'malformed')
})
