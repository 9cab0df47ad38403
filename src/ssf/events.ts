// Security events as the domain services report them, and how each becomes an
// OpenID Shared Signals event (a CAEP or RISC type URI, its `sub_id` in the
// RFC 9493 subject formats, and its event object). The services see only the
// SecurityEventSink: one awaited call that writes the events to the outbox
// before their action is acknowledged.

/** CAEP 1.0 and RISC event types this transmitter sends, and the SSF ones it sends on request. */
export const EVENT_TYPES = {
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  credentialChange: 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  accountDisabled: 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  accountEnabled: 'https://schemas.openid.net/secevent/risc/event-type/account-enabled',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification'
} as const

/** What a stream may ask for (`events_supported`); verification events are sent on request, whatever a stream asked. */
export const EVENTS_SUPPORTED: readonly string[] = [
  EVENT_TYPES.sessionRevoked, EVENT_TYPES.credentialChange, EVENT_TYPES.accountDisabled, EVENT_TYPES.accountEnabled
]

/**
 * What happened, as the services say it. `reason` is the machine reason the
 * service already uses for the revocation (logout, refresh_token_reuse, …).
 */
export type SecurityEvent =
  /** One session ended (logout, revocation, reuse, an admin, logout-all, a password change, a disable). */
  | { type: 'session-revoked', userId: string, sid: string, reason: string }
  /** Every session of a client ended (the client was disabled). */
  | { type: 'client-sessions-revoked', clientId: string, reason: string }
  /** The user's password changed (their own change, or an operator's reset). */
  | { type: 'credential-change', userId: string, reason: string }
  | { type: 'account-disabled', userId: string, reason: string }
  | { type: 'account-enabled', userId: string, reason: string }

/**
 * Where the services report security events. `record` resolves once the
 * events are durable in the outbox (all of them or none): a service awaits it
 * before it answers, so a crash after the answer loses nothing.
 */
export interface SecurityEventSink {
  record (events: readonly SecurityEvent[]): Promise<void>
}

/** The sink when Shared Signals are off: nothing is written. */
export const NO_SECURITY_EVENTS: SecurityEventSink = { record: async () => {} }

/** Counts for the metrics; every method is optional to call and never throws. */
export interface SsfObserver {
  queued (type: string): void
  delivered (streamId: string, method: 'push' | 'poll', count: number): void
  failed (streamId: string, reason: string): void
  /** Seconds the oldest event the stream still waits for has been waiting (0: caught up). */
  lag (streamId: string, seconds: number): void
  /** This instance no longer delivers the stream: its series go. */
  forget (streamId: string): void
}

export const NO_OBSERVER: SsfObserver = {
  queued: () => {},
  delivered: () => {},
  failed: () => {},
  lag: () => {},
  forget: () => {}
}

/** CAEP `initiating_entity` for each reason the services give; anything else is the system's doing. */
const INITIATORS: Record<string, 'user' | 'admin' | 'policy' | 'system'> = {
  logout: 'user',
  logout_all: 'user',
  revoked: 'user',
  password_changed: 'user',
  admin: 'admin',
  user_disabled: 'admin',
  user_enabled: 'admin',
  password_reset: 'admin',
  roles_changed: 'admin',
  client_disabled: 'admin',
  refresh_token_reuse: 'policy'
}

export function initiatingEntity (reason: string): 'user' | 'admin' | 'policy' | 'system' {
  return Object.hasOwn(INITIATORS, reason) ? INITIATORS[reason]! : 'system'
}

/** A user identifier: `iss_sub` (the tokens' iss and sub), or that with the email as `aliases`. */
export function userSubject (issuer: string, userId: string, email?: string): Record<string, unknown> {
  const issSub = { format: 'iss_sub', iss: issuer, sub: userId }
  return email === undefined ? issSub : { format: 'aliases', identifiers: [issSub, { format: 'email', email }] }
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

/** The username when it is an email address (usernames are [A-Za-z0-9._@-], so nothing else can hide in it). */
export function emailOf (username: string): string | undefined {
  return EMAIL.test(username) ? username : undefined
}

export interface MappedEvent {
  type: string
  subject: Record<string, unknown>
  payload: Record<string, unknown>
}

/**
 * The SSF form of a security event. `issuer` is the tokens' `iss`
 * (JWT_ISSUER): a user's `iss_sub` names the pair receivers saw in our tokens.
 * `atSeconds` is the action's time (`event_timestamp`).
 */
export function toSsfEvent (event: SecurityEvent, issuer: string, atSeconds: number, email?: string): MappedEvent {
  const common = { event_timestamp: atSeconds, initiating_entity: initiatingEntity(event.reason), reason_admin: { en: event.reason } }
  switch (event.type) {
    case 'session-revoked':
      return {
        type: EVENT_TYPES.sessionRevoked,
        subject: { format: 'complex', user: userSubject(issuer, event.userId, email), session: { format: 'opaque', id: event.sid } },
        payload: common
      }
    case 'client-sessions-revoked':
      // One event for every session of the application (CAEP: a complex subject
      // covers every session matching it), however many sessions the client had.
      return {
        type: EVENT_TYPES.sessionRevoked,
        subject: { format: 'complex', application: { format: 'opaque', id: event.clientId } },
        payload: common
      }
    case 'credential-change':
      return {
        type: EVENT_TYPES.credentialChange,
        subject: userSubject(issuer, event.userId, email),
        payload: { credential_type: 'password', change_type: 'update', ...common }
      }
    case 'account-disabled':
      return { type: EVENT_TYPES.accountDisabled, subject: userSubject(issuer, event.userId, email), payload: { event_timestamp: atSeconds } }
    case 'account-enabled':
      return { type: EVENT_TYPES.accountEnabled, subject: userSubject(issuer, event.userId, email), payload: { event_timestamp: atSeconds } }
  }
}

/** The user a security event is about, if any (to look up the email when email subjects are on). */
export function userOf (event: SecurityEvent): string | undefined {
  return event.type === 'client-sessions-revoked' ? undefined : event.userId
}
