// Keeps tokens out of logs and error messages when they arrive where they do not
// belong: in a URL path or an unexpected query parameter.
//
// Runs on attacker-chosen text (every logged URL, every 404 message), so it
// must stay linear in the length of its input; see JWT_RUN.

/**
 * A run that may be a compact JWT (a JSON header always encodes to "eyJ…").
 *
 * Everything after "eyJ" is optional, so a match attempt that starts at "eyJ"
 * never fails: it consumes the whole run and the next attempt starts after it.
 * Attempts therefore never overlap, and the scan is linear. (Requiring the dot
 * inside the pattern made every "eyJ" of a dot-less run rescan the rest of the
 * run before failing: quadratic.) Whether the run is a token is decided on the
 * match itself, by isToken.
 */
const JWT_RUN = /eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?)?/g

/** A header and at least one more segment: a JWS or a JWT with its signature cut off. */
const isToken = (run: string): boolean => run.includes('.', 3)

const REDACTED = '[redacted]'

const redactRun = (run: string): string => isToken(run) ? REDACTED : run

/** Replaces JWT-shaped text with "[redacted]". */
export function redactTokens (text: string): string {
  return text.replace(JWT_RUN, redactRun)
}
