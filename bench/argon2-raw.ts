// Raw argon2id verifications per second with the service's parameters, on the
// same cores and libuv thread pool size as the service: the login ceiling.
import argon2 from 'argon2'

const seconds = Number(process.argv[2] ?? 6)
const concurrency = Number(process.argv[3] ?? 8)
const params = {
  type: argon2.argon2id as 2,
  memoryCost: Number(process.env.ARGON2_MEMORY_KIB ?? 19_456),
  timeCost: Number(process.env.ARGON2_TIME_COST ?? 2),
  parallelism: Number(process.env.ARGON2_PARALLELISM ?? 1)
}
const password = 'correct horse battery staple'
const hash = await argon2.hash(password, params)
await argon2.verify(hash, password)

let done = 0
const deadline = Date.now() + seconds * 1000
const start = Date.now()
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (Date.now() < deadline) {
    if (!(await argon2.verify(hash, password))) throw new Error('verify failed')
    done += 1
  }
}))
const elapsed = (Date.now() - start) / 1000
process.stdout.write(JSON.stringify({ verifiesPerSecond: done / elapsed, done, elapsed }) + '\n')
