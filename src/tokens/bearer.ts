// Reads a bearer token from an Authorization header value (RFC 6750 §2.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The token, or null when the header is missing or not a well-formed bearer credential. */
export function bearerToken (header: string | undefined): string | null {
  if (header === undefined || header.length > 8192) return null
  const match = BEARER.exec(header)
  return match?.[1] ?? null
}
