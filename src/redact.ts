// Keeps tokens out of logs and error messages when they arrive where they do not
// belong: in a URL path or an unexpected query parameter, written plainly or
// percent-encoded (a dot sent as %2E is a dot to anyone who decodes the URL).
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

/** Value of a hex digit's char code, or -1. */
function hexValue (code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  const lower = code | 0x20
  if (lower >= 97 && lower <= 102) return lower - 87
  return -1
}

/** Whether a character code is one of base64url's (the characters of a JWT segment). */
function isSegmentChar (code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 45 || code === 95
}

/**
 * Replaces JWT-shaped text with "[redacted]", whether its characters are
 * written plainly or as %XX escapes (one level of percent-decoding: the one
 * the server itself applies to paths and query strings).
 */
export function redactTokens (text: string): string {
  if (!text.includes('%')) return text.replace(JWT_RUN, redactRun)

  // JWT_RUN by hand, over the decoded characters: each step reads one
  // character, plain or a valid %XX escape, and remembers where it began in
  // `text`, so that a token is cut out of `text` as it came and everything
  // else is kept untouched. One pass, constant memory.
  let out = ''
  let kept = 0
  // Where the last two characters began, while looking for "eyJ" (-1: not "e", not "ey").
  let e = -1
  let ey = -1
  // Inside a run: where it began (-1: not in one) and how many dots it has.
  let start = -1
  let dots = 0
  for (let i = 0; i <= text.length;) {
    const at = i
    let code = -1
    if (i < text.length) {
      code = text.charCodeAt(i)
      i += 1
      if (code === 37 /* % */ && i + 1 < text.length) {
        const high = hexValue(text.charCodeAt(i))
        const low = hexValue(text.charCodeAt(i + 1))
        if (high >= 0 && low >= 0) {
          code = high * 16 + low
          i += 2
        }
      }
    } else {
      i += 1
    }
    if (start >= 0) {
      if (isSegmentChar(code)) continue
      if (code === 46 /* . */ && dots < 2) { dots += 1; continue }
      // The run ends here; this character (not a segment character) cannot begin another.
      if (dots > 0) {
        out += text.slice(kept, start) + REDACTED
        kept = at
      }
      start = -1
      e = ey = -1
      continue
    }
    if (code === 74 /* J */ && ey >= 0) {
      start = ey
      dots = 0
    } else {
      ey = code === 121 /* y */ ? e : -1
      e = code === 101 /* e */ ? at : -1
    }
  }
  return out + text.slice(kept)
}
