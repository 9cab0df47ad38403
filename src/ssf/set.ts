// Security Event Tokens (RFC 8417) as SSF 1.0 profiles them: which outbox
// events a stream carries, and the claims of the SET that carries one. A SET
// is the same on every delivery of an event to a stream (jti and iat come from
// the event), so a receiver that gets it twice can tell.
import { createHash } from 'node:crypto'
import type { SsfEventRecord, SsfStreamRecord } from '../store/types.js'

/** The JOSE `typ` of every SET (SSF §4.1.1): distinct from access tokens' `at+jwt`. */
export const SET_TYPE = 'secevent+jwt'

/** Signs SET claims with the key ring's current key under `typ: secevent+jwt`. */
export type SetSigner = (claims: Record<string, unknown>) => string

/** Whether the stream carries the event: one for it alone, or one of a type it gets. */
export function carries (stream: Pick<SsfStreamRecord, 'streamId' | 'eventsDelivered'>, event: SsfEventRecord): boolean {
  return event.streamId === null ? stream.eventsDelivered.includes(event.type) : event.streamId === stream.streamId
}

/** The SET's jti: 128 bits, one per event and stream, the same on every delivery. */
export function jtiFor (streamId: string, eventId: string): string {
  return createHash('sha256').update(`${streamId}\n${eventId}`).digest('base64url').slice(0, 22)
}

/** The SET claims: no `sub` and no `exp` (SSF §4.1.2, §4.1.6), one event in `events`. */
export function setClaims (event: SsfEventRecord, stream: Pick<SsfStreamRecord, 'streamId' | 'audience'>, issuer: string): Record<string, unknown> {
  return {
    iss: issuer,
    aud: stream.audience,
    jti: jtiFor(stream.streamId, event.id),
    iat: Math.floor(event.createdAt.getTime() / 1000),
    txn: event.txn,
    sub_id: event.subject,
    events: { [event.type]: event.payload }
  }
}

/**
 * How long a hole in the outbox's seqs may be an event that is numbered but
 * not yet visible (MongoDB): a reader stops before a younger hole, so its
 * cursor never passes an event it has not seen (a late write is stored again
 * above the cursor after REVOCATION_LATE_MS, which is shorter).
 */
export const HOLE_GRACE_MS = 1000

/**
 * The events after `cursor` a reader may pass, in order: up to the first hole
 * younger than HOLE_GRACE_MS. `holeAt` is when that hole stops being one.
 */
export function readable (events: SsfEventRecord[], cursor: number, nowMs: number): { events: SsfEventRecord[], holeAt?: number } {
  let previous = cursor
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    if (event.seq !== previous + 1 && event.createdAt.getTime() > nowMs - HOLE_GRACE_MS) {
      return { events: events.slice(0, i), holeAt: event.createdAt.getTime() + HOLE_GRACE_MS }
    }
    previous = event.seq
  }
  return { events }
}
