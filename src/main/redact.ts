// Keeps tokens out of logs and error messages when they arrive where they do not
// belong: in a URL path or an unexpected query parameter.

/** Anything shaped like a compact JWT (a JSON header always encodes to "eyJ…"). */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?/g

/** Replaces JWT-shaped text with "[redacted]". */
export function redactTokens (text: string): string {
  return text.replace(JWT_SHAPE, '[redacted]')
}
