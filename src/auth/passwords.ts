// Password hashing with argon2id. Unknown users are verified against a dummy
// hash made with the same parameters, so both failures cost the same time.
import argon2 from 'argon2'

export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

/** Longest password accepted; longer input is refused before any hashing work. */
export const MAX_PASSWORD_LENGTH = 256

export class PasswordHasher {
  private dummyHash: Promise<string> | undefined

  constructor (private readonly params: Argon2Params) {}

  hash (password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.params })
  }

  /** Verifies a password; `hash` null means "unknown user" and still spends the time. */
  async verify (hash: string | null, password: string): Promise<boolean> {
    if (hash === null) {
      this.dummyHash ??= this.hash('dummy password for timing equalisation')
      await argon2.verify(await this.dummyHash, password)
      return false
    }
    try {
      return await argon2.verify(hash, password)
    } catch {
      // A malformed stored hash is a failed login, not a 500.
      return false
    }
  }

  /** True when the stored hash was made with other parameters than the current ones. */
  needsRehash (hash: string): boolean {
    try {
      return argon2.needsRehash(hash, { ...this.params })
    } catch {
      return true
    }
  }

  /** Creates the dummy hash ahead of the first login so that one is not slower. */
  async warmUp (): Promise<void> {
    this.dummyHash ??= this.hash('dummy password for timing equalisation')
    await this.dummyHash
  }
}
