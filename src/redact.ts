// Keeps tokens out of logs and error messages when they arrive where they do not
// belong: in a URL path or query string.

/** Query parameters whose values are logged; every other value is redacted (a token sent in a URL must not reach the log). */
const LOGGED_QUERY_PARAMS = new Set(['scope'])
/** Anything shaped like a compact JWT (a JSON header always encodes to "eyJ…"). */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?/g

/** Replaces JWT-shaped text with "[redacted]". */
export function redactTokens (text: string): string {
  return text.replace(JWT_SHAPE, '[redacted]')
}

/** The request URL as logged: JWT-shaped text and query values (but allow-listed ones) redacted. */
export function loggedUrl (url: string): string {
  const q = url.indexOf('?')
  const path = redactTokens(q === -1 ? url : url.slice(0, q))
  if (q === -1) return path
  const query = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    if (eq === -1) return redactTokens(pair)
    const name = pair.slice(0, eq)
    return LOGGED_QUERY_PARAMS.has(name) ? redactTokens(pair) : `${redactTokens(name)}=[redacted]`
  })
  return `${path}?${query.join('&')}`
}
