// A login in flight against a change of the account: the login has read the
// user and is inside its argon2 check when the user's own password change, an
// admin's reset, a disable or a role removal lands, and it writes its session
// after. Each of those actions ends every session, so the login must not come
// out with one that outlives it (nor with roles the user no longer has). The
// argon2 check of the login is held open on purpose until the action has been
// answered, 20 times for each action.
import t, { type Test } from 'tap'
import argon2 from 'argon2'
import type { FastifyInstance } from 'fastify'
import { build, login, PASSWORD, registerUser, uniqueName, validate } from '../helper.js'
import { ADMIN_ENV, adminToken } from '../support/clients.js'

const ROUNDS = 20
const NEW_PASSWORD = 'a brand new passphrase'

/**
 * Holds the next argon2 verification of `password` until `release()`; the
 * others (the action's own checks) run at once. `entered` resolves once the
 * held check has begun, that is, once the login has read the user.
 */
function holdNextCheck (t: Test, password: string): { entered: Promise<void>, release: () => void } {
  const lib = argon2 as { verify: typeof argon2.verify }
  const verify = lib.verify
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let entered: () => void = () => {}
  const enteredP = new Promise<void>((resolve) => { entered = resolve })
  let held = false
  lib.verify = async (...args: Parameters<typeof verify>) => {
    if (!held && args[1] === password) {
      held = true
      entered()
      const result = await verify(...args)
      await released
      return result
    }
    return verify(...args)
  }
  t.teardown(() => { lib.verify = verify })
  return { entered: enteredP, release }
}

type Action = (app: FastifyInstance, user: { id: string, username: string }, admin: string) => Promise<number>

const call = async (app: FastifyInstance, token: string, method: 'POST' | 'PUT', url: string, payload?: Record<string, unknown>): Promise<number> =>
  (await app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload } : {}) })).statusCode

const actions: Record<string, { act: Action, expected: number, loginAnswer: number }> = {
  'the user\'s own password change': {
    act: async (app, user) => {
      const own = await login(app, user.username)
      return call(app, own.access_token, 'POST', '/auth/password', { current_password: PASSWORD, new_password: NEW_PASSWORD })
    },
    expected: 204,
    loginAnswer: 401
  },
  'an admin password reset': {
    act: async (app, user, admin) => call(app, admin, 'POST', `/admin/users/${user.id}/password`, { new_password: NEW_PASSWORD }),
    expected: 204,
    loginAnswer: 401
  },
  'an admin disable': {
    act: async (app, user, admin) => call(app, admin, 'POST', `/admin/users/${user.id}/disable`),
    expected: 200,
    loginAnswer: 401
  },
  'a role removal': {
    act: async (app, user, admin) => call(app, admin, 'PUT', `/admin/users/${user.id}/roles`, { roles: [] }),
    expected: 200,
    // Answered as a wrong password: the client logs in again, against the account as it now is.
    loginAnswer: 401
  },
  'a disable and an enable at once': {
    act: async (app, user, admin) => {
      const disabled = await call(app, admin, 'POST', `/admin/users/${user.id}/disable`)
      return disabled === 200 ? call(app, admin, 'POST', `/admin/users/${user.id}/enable`) : disabled
    },
    expected: 200,
    loginAnswer: 401
  }
}

for (const [name, { act, expected, loginAnswer }] of Object.entries(actions)) {
  t.test(`a login in flight during ${name} gets no session that outlives it`, async (t) => {
    const app = await build(t, { env: ADMIN_ENV })
    const admin = await adminToken(app)
    for (let round = 0; round < ROUNDS; round++) {
      const user = await registerUser(app, uniqueName('inflight'))
      if (name === 'a role removal') t.equal(await call(app, admin, 'PUT', `/admin/users/${user.id}/roles`, { roles: ['ops'] }), 200)
      const hold = holdNextCheck(t, PASSWORD)
      const inFlight = app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
      await hold.entered
      t.equal(await act(app, user, admin), expected, `round ${round}: the action is answered`)
      hold.release()
      const answer = await inFlight
      t.equal(answer.statusCode, loginAnswer, `round ${round}: the login in flight answers ${loginAnswer}`)
      if (answer.statusCode === 200) {
        const body = answer.json() as { access_token: string, refresh_token: string }
        const checked = await validate(app, body.access_token)
        t.equal(checked.valid, true, `round ${round}: its token is good`)
        t.same(checked.claims?.roles, [], `round ${round}: and carries the current roles only`)
      }
      const users = await app.inject({ method: 'GET', url: `/admin/users/${user.id}/sessions`, headers: { authorization: `Bearer ${admin}` } })
      const live = (users.json() as { sessions: Array<{ sid: string }> }).sessions.length
      // The password change keeps the session that made it; the others leave none.
      t.equal(live, name === 'the user\'s own password change' ? 1 : 0, `round ${round}: live sessions afterwards`)
    }
  })
}
