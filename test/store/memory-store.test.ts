// The storage contract against the in-memory store.
import t from 'tap'
import { MemoryStore } from '../../src/store/memory-store.js'
import { storeContract } from './contract.js'

await storeContract(t, 'memory', async () => {
  const store = new MemoryStore()
  await store.init()
  return { store, cleanup: async () => { await store.close() } }
})
