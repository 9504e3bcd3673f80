// Model management through the official `ollama` npm package (ollama-js), unchanged:
// pull from an Ollama-shaped registry (streamed to the end and not), list, show, copy,
// delete, and the errors it throws.
//
// Usage: node ollama_pull_check.mjs http://127.0.0.1:PORT REGISTRY_HOST
// REGISTRY_HOST (`127.0.0.1:PORT`) serves `library/tiny:latest` over plain http.
// Exits non-zero on the first mismatch.
import assert from 'node:assert/strict'
import { Ollama } from 'ollama'

const [host, registry] = process.argv.slice(2)
const ollama = new Ollama({ host })
const tiny = `${registry}/library/tiny:latest`

async function rejects(status, fn) {
  try {
    await fn()
  } catch (e) {
    assert.equal(e.name, 'ResponseError', String(e))
    assert.equal(e.status_code, status, `${e.status_code}: ${e.error}`)
    assert.ok(e.error)
    return e
  }
  assert.fail(`expected a ${status} error`)
}

assert.deepEqual((await ollama.list()).models, [])

// A pull the client abandons (the registry stops sending the weights mid-blob): abort()
// ends the iterator and no model appears; the pull below fetches the same blob in full.
const stalled = await ollama.pull({ model: `${registry}/library/stall`, insecure: true, stream: true })
let sawWeights = false
await assert.rejects(async () => {
  for await (const p of stalled) {
    if (p.digest && p.total > 1 << 20) {
      sawWeights = true
      stalled.abort()
    }
  }
})
assert.ok(sawWeights)
assert.deepEqual((await ollama.list()).models, [])

// Streamed: the iterator throws unless the last line is `success`.
const lines = []
for await (const part of await ollama.pull({ model: tiny, insecure: true, stream: true })) {
  lines.push(part)
}
const statuses = lines.map((p) => p.status)
assert.equal(statuses[0], 'pulling manifest')
assert.equal(statuses.at(-1), 'success')
assert.ok(statuses.includes('verifying sha256 digest'), statuses.join())
assert.ok(statuses.includes('writing manifest'), statuses.join())
const layered = lines.filter((p) => p.digest)
const digests = new Set(layered.map((p) => p.digest))
assert.equal(digests.size, 4, [...digests].join())
for (const p of layered) {
  assert.match(p.digest, /^sha256:[0-9a-f]{64}$/)
  assert.equal(p.status, `pulling ${p.digest.slice(7, 19)}`)
  assert.ok(p.total > 0 && (p.completed ?? 0) <= p.total, JSON.stringify(p))
}
for (const d of digests) {
  const last = layered.filter((p) => p.digest === d).at(-1)
  assert.equal(last.completed, last.total, JSON.stringify(last))
}

// Not streamed: one success.
const done = await ollama.pull({ model: tiny, insecure: true })
assert.equal(done.status, 'success')
// Streamed pull of a tag the registry lacks: the iterator throws the error line.
await assert.rejects(async () => {
  for await (const _ of await ollama.pull({ model: `${registry}/library/tiny:nope`, insecure: true, stream: true })) {
    // drain
  }
}, (e) => e instanceof Error && e.message.length > 0 && !e.message.includes('Did not receive'))

// list and show
const listed = await ollama.list()
assert.deepEqual(listed.models.map((m) => m.model), [tiny])
assert.equal(listed.models[0].details.format, 'gguf')
assert.equal(listed.models[0].digest.length, 64)
const shown = await ollama.show({ model: tiny })
assert.ok(shown.template.includes('{{ .Prompt }}'), shown.template)
assert.match(shown.parameters, /^temperature\s+0\.2$/m)
assert.ok(shown.modelfile.includes('FROM '), shown.modelfile)
assert.equal(shown.details.family, 'llama')
assert.equal(shown.model_info['general.architecture'], 'llama')
assert.ok(shown.capabilities.includes('completion'), shown.capabilities)
assert.ok(!Number.isNaN(Date.parse(shown.modified_at)), shown.modified_at)
await rejects(404, () => ollama.show({ model: 'no-such-model' }))

// copy
assert.equal((await ollama.copy({ source: tiny, destination: 'tiny-copy' })).status, 'success')
const both = Object.fromEntries((await ollama.list()).models.map((m) => [m.model, m.digest]))
assert.equal(both['tiny-copy:latest'], both[tiny], JSON.stringify(both))
await rejects(404, () => ollama.copy({ source: 'no-such-model', destination: 'x' }))

// delete (ollama-js sends `name`)
assert.equal((await ollama.delete({ model: 'tiny-copy' })).status, 'success')
await rejects(404, () => ollama.delete({ model: 'tiny-copy' }))
assert.equal((await ollama.delete({ model: tiny })).status, 'success')
assert.deepEqual((await ollama.list()).models, [])

console.log('all checks passed')
