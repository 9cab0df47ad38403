// DPoP proofs verified per second in one process: the proof checks of
// @token-orchestrator/verifier (the service's and resource servers' own), ES256,
// one client key (its key object cached, as for a client's every request),
// every proof fresh. Signing happens before the clock starts.
import { ProofVerifier } from '@token-orchestrator/verifier/dpop'
import { es256Prover } from './dpop.js'

const count = Number(process.argv[2] ?? 20_000)
const url = 'https://api.example.com/orders'
const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl'
const prover = es256Prover()
const proofs = Array.from({ length: count }, () => prover.proof('GET', url, token))
const verifier = new ProofVerifier()
const now = Math.floor(Date.now() / 1000)
for (let i = 0; i < 500; i++) verifier.verify(proofs[i], { method: 'GET', url, accessToken: token }, now) // warm-up
const started = process.hrtime.bigint()
let ok = 0
for (const proof of proofs) if (verifier.verify(proof, { method: 'GET', url, accessToken: token }, now).ok) ok += 1
const seconds = Number(process.hrtime.bigint() - started) / 1e9
if (ok !== count) throw new Error(`${count - ok} proofs did not verify`)
process.stdout.write(JSON.stringify({ proofsPerSecond: count / seconds }) + '\n')
