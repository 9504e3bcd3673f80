"""Drive a live rollama with the official `ollama` Python client, unchanged.

Usage: python ollama_client_check.py http://127.0.0.1:PORT
Exits non-zero (with a traceback) on the first mismatch.
"""
import sys

import ollama

host = sys.argv[1]
client = ollama.Client(host=host)
greedy = {"temperature": 0, "num_predict": 8}

listed = client.list()
names = [m.model for m in listed.models]
assert "smollm2:latest" in names, names
assert len(listed.models[0].digest) == 64

shown = client.show("smollm2")
assert shown.modelinfo["general.architecture"] == "llama", shown.modelinfo
assert "completion" in shown.capabilities

# Load, then ps.
loaded = client.generate(model="smollm2", prompt="")
assert loaded.done and loaded.done_reason == "load", loaded
ps = client.ps()
assert [m.model for m in ps.models] == ["smollm2:latest"], ps

# generate: whole and streamed give the same greedy text.
whole = client.generate(model="smollm2", prompt="What is the capital of France?", options=greedy)
assert whole.done and 0 < whole.eval_count <= 8 and whole.prompt_eval_count > 0, whole
assert whole.response and whole.context, whole
parts = list(client.generate(model="smollm2", prompt="What is the capital of France?", options=greedy, stream=True))
assert parts[-1].done and parts[-1].done_reason == whole.done_reason
assert "".join(p.response for p in parts) == whole.response

# chat: whole and streamed.
msgs = [{"role": "user", "content": "Say hello."}]
reply = client.chat(model="smollm2", messages=msgs, options=greedy)
assert reply.message.role == "assistant" and reply.message.content, reply
chunks = list(client.chat(model="smollm2", messages=msgs, options=greedy, stream=True))
assert chunks[-1].done and chunks[-1].eval_count == reply.eval_count
assert "".join(c.message.content for c in chunks) == reply.message.content

# Errors arrive as ResponseError with Ollama's status and text.
try:
    client.chat(model="does-not-exist", messages=msgs)
    raise AssertionError("expected an error")
except ollama.ResponseError as e:
    assert e.status_code == 404 and e.error == "model 'does-not-exist' not found", (e.status_code, e.error)
try:
    client.generate(model="../../etc/passwd", prompt="x")
    raise AssertionError("expected an error")
except ollama.ResponseError as e:
    assert e.status_code == 400 and e.error == "invalid model name", (e.status_code, e.error)

# Embeddings (what a Django RAG app calls): unit vectors, one per input, in order.
emb = client.embed(model="all-minilm", input=["The cat sleeps.", "A kitten naps.", "Taxes rose."])
assert len(emb.embeddings) == 3 and all(len(v) == 384 for v in emb.embeddings)
assert all(abs(sum(x * x for x in v) - 1) < 1e-4 for v in emb.embeddings)
dot = lambda a, b: sum(x * y for x, y in zip(a, b))
assert dot(emb.embeddings[0], emb.embeddings[1]) > dot(emb.embeddings[0], emb.embeddings[2])
legacy = client.embeddings(model="all-minilm", prompt="The cat sleeps.")
assert len(legacy.embedding) == 384
assert "embedding" in client.show("all-minilm").capabilities
try:
    client.chat(model="all-minilm", messages=msgs)
    raise AssertionError("expected an error")
except ollama.ResponseError as e:
    assert e.status_code == 400 and e.error == '"all-minilm" does not support chat', e.error

# Unload.
unloaded = client.generate(model="smollm2", prompt="", keep_alive=0)
assert unloaded.done_reason == "unload", unloaded
assert [m.model for m in client.ps().models] == ["all-minilm:latest"]
print("ollama python client: all checks passed")
