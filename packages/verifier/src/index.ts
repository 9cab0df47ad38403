// @token-orchestrator/verifier: verify Token Orchestrator access tokens in
// process and follow its revocations. `createVerifier` is the entry point; the
// verification rules and the revocation view are the service's own.
export { createVerifier, VerifierError } from './verifier.js'
export type { Verifier, VerifierErrorCode, VerifierOptions, VerifierStatus, VerifyResult } from './verifier.js'
export type { AccessClaims, TokenErrorCode } from './rules.js'
export type { PresentedProof } from './dpop.js'
