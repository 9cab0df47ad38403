// The request URLs a resource server or gateway forwards with a DPoP proof
// (validate's dpop.url, /auth/verify's header sets) must be compared as the
// gateway routed them: no characters URL parsers rewrite, no dot segments, no
// encoded unreserved characters in the path.
import t from 'tap'
import { forwardedUrlProblem } from '../../../src/dpop/dpop-service.js'

t.test('plain URLs pass, query included', async (t) => {
  for (const url of [
    'https://api.example.com/orders', 'https://api.example.com/', 'http://127.0.0.1:8080/a/b.c/d..e/...',
    'https://api.example.com/a%2Fb/%20x', 'https://api.example.com/search?q=%41..%2e/../x#frag'
  ]) t.equal(forwardedUrlProblem(url), null, url)
})

t.test('what a parser or a normalizer would read as another path is refused', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['https://api.example.com/public\\..\\admin', /backslash/],
    ['https://api.example.com/\tadmin', /whitespace/],
    ['https://api.example.com/caf\u00e9', /non-ASCII/],
    ['https://api.example.com/admin/../public', /dot segment/],
    ['https://api.example.com/admin/%2e%2E/public', /dot segment/],
    ['https://api.example.com/admin/.%2e/public', /dot segment/],
    ['https://api.example.com/./public', /dot segment/],
    ['https://api.example.com/admin/..', /dot segment/],
    ['/auth/x/%2e', /dot segment/],
    ['https://api.example.com/%61dmin', /percent-encodes/],
    ['https://api.example.com/x%7E', /percent-encodes/],
    ['https://api.example.com/x%5Fy', /percent-encodes/]
  ]
  for (const [url, why] of refused) t.match(forwardedUrlProblem(url), why, url)
})
