// The admin password policy: length, distinct characters, not the username,
// not a common password (case-insensitive, repeated, or with digits appended).
import t from 'tap'
import { adminPasswordProblem, MIN_ADMIN_PASSWORD_LENGTH } from '../../src/auth/admin-password.js'
import { loadConfig } from '../../src/config.js'
import { TEST_ENV } from '../helper.js'

t.test('refused', async (t) => {
  for (const [password, why] of [
    ['password', 'short'],
    ['rootroot', 'short'],
    ['rootroot12345678', 'a listed word repeated, digits appended'],
    ['RootRoot12345678', 'case does not help'],
    ['password12345678', 'a listed password with digits appended'],
    ['passwordpassword', 'a listed password repeated'],
    ['PassWordPassWord', 'repeated, case-insensitive'],
    ['qwertyuiop123456', 'keyboard walk with digits'],
    ['1234567890123456', 'digits only'],
    ['aaaaabbbbbaaaaabbbbb', 'fewer than 6 distinct characters'],
    ['correcthorsebatterystaple', 'a famous example']
  ] as const) {
    t.not(adminPasswordProblem(password), null, `${password}: ${why}`)
  }
  t.equal(adminPasswordProblem('Administrator.Long', 'administrator.long'), 'the same as the username')
  t.equal(MIN_ADMIN_PASSWORD_LENGTH, 16)
})

t.test('accepted', async (t) => {
  for (const password of ['a-long-admin-password-for-tests', 'tX9#mQ2v!Lw7zR4e', 'rootroot-is-not-enough-but-this-is']) {
    t.equal(adminPasswordProblem(password, 'root'), null, password)
  }
})

t.test('start-up uses the same rule', async (t) => {
  const production = { ...TEST_ENV, NODE_ENV: 'production', ADMIN_USERNAME: 'root' }
  t.throws(() => loadConfig({ ...production, ADMIN_PASSWORD: 'rootroot12345678' }), /ADMIN_PASSWORD is too weak.*a common password/)
  t.throws(() => loadConfig({ ...production, ADMIN_PASSWORD: 'Password12345678' }), /ADMIN_PASSWORD is too weak/)
  t.doesNotThrow(() => loadConfig({ ...production, ADMIN_PASSWORD: 'tX9#mQ2v!Lw7zR4e' }))
})
