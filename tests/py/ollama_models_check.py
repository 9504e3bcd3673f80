"""Model management through the official `ollama` Python client, unchanged: pull from an
Ollama-shaped registry, list, show, create (from a model and from an uploaded blob), copy,
delete, ps, generate with a created model's system prompt, and the errors.

Usage: python ollama_models_check.py http://127.0.0.1:PORT REGISTRY_HOST [GGUF_PATH]
REGISTRY_HOST (`127.0.0.1:PORT`) serves `library/tiny:latest` over plain http; GGUF_PATH is
the model file it serves (uploaded with create_blob). Exits non-zero on the first mismatch.
"""
import hashlib
import re
import sys

import httpx
import ollama

host, registry = sys.argv[1], sys.argv[2]
gguf = sys.argv[3] if len(sys.argv) > 3 else None
client = ollama.Client(host=host)
tiny = f"{registry}/library/tiny:latest"
greedy = {"temperature": 0, "num_predict": 8}


def expect_error(status, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ollama.ResponseError as e:
        assert e.status_code == status, (fn.__name__, args, kwargs, e.status_code, e.error)
        assert e.error, e
        return e
    raise AssertionError(f"expected an error from {fn.__name__}{args}{kwargs}")


assert client.list().models == [], client.list()

# --- a pull the client abandons (the registry stops sending the weights mid-blob): closing
# the iterator closes the connection; no model appears; the pull below fetches it in full.
stalled = client.pull(f"{registry}/library/stall", insecure=True, stream=True)
for p in stalled:
    if p.digest and p.total > 1 << 20:
        break
else:
    raise AssertionError("no progress on the weights")
stalled.close()
assert client.list().models == [], client.list()

# --- pull, streamed: the client's progress iterator, every line typed.
lines = list(client.pull(tiny, insecure=True, stream=True))
statuses = [p.status for p in lines]
assert statuses[0] == "pulling manifest", statuses
assert statuses[-1] == "success", statuses
for want in ("verifying sha256 digest", "writing manifest"):
    assert want in statuses, statuses
assert statuses.index("verifying sha256 digest") < statuses.index("writing manifest") < len(statuses) - 1
layered = [p for p in lines if p.digest]
assert layered, statuses
digests = set()
for p in layered:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", p.digest), p
    assert p.status == f"pulling {p.digest[7:19]}", p
    assert p.total and p.total > 0 and 0 <= (p.completed or 0) <= p.total, p
    digests.add(p.digest)
# model, template, params and config: each reported, each ending complete.
assert len(digests) == 4, digests
for d in digests:
    last = [p for p in layered if p.digest == d][-1]
    assert last.completed == last.total, last
gguf_digest = max(layered, key=lambda p: p.total).digest
if gguf:
    h = hashlib.sha256()
    with open(gguf, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert gguf_digest == f"sha256:{h.hexdigest()}", gguf_digest

# --- pull, not streamed: one success (everything is there already).
done = client.pull(tiny, insecure=True)
assert isinstance(done, ollama.ProgressResponse) and done.status == "success", done
# Unknown model or tag on the registry: an error, streamed or not.
missing = f"{registry}/library/tiny:nope"
e = expect_error(404, client.pull, missing, insecure=True)
assert "not found" in e.error or "does not exist" in e.error, e.error
try:
    list(client.pull(missing, insecure=True, stream=True))
    raise AssertionError("expected an error line")
except ollama.ResponseError as e:
    assert e.error, e

# --- list
listed = client.list()
names = [m.model for m in listed.models]
assert names == [tiny], names
m = listed.models[0]
assert m.size and m.size >= max(p.total for p in layered), m
assert m.digest and len(m.digest) == 64, m
assert m.modified_at is not None, m
assert m.details.format == "gguf" and m.details.family == "llama", m.details

# --- show
shown = client.show(tiny)
assert shown.modified_at is not None, shown
assert shown.template and "<|im_start|>" in shown.template and "{{ .Prompt }}" in shown.template, shown.template
assert shown.parameters and re.search(r'^stop\s+"<\|im_start\|>"$', shown.parameters, re.M), shown.parameters
assert re.search(r"^temperature\s+0\.2$", shown.parameters, re.M), shown.parameters
assert shown.modelfile and "FROM " in shown.modelfile, shown.modelfile
assert "TEMPLATE " in shown.modelfile and "PARAMETER stop" in shown.modelfile, shown.modelfile
assert shown.details.format == "gguf" and shown.details.family == "llama", shown.details
assert shown.details.parameter_size and shown.details.quantization_level, shown.details
assert shown.modelinfo["general.architecture"] == "llama", shown.modelinfo
assert shown.modelinfo["llama.context_length"] > 0, shown.modelinfo
assert "completion" in shown.capabilities, shown.capabilities
expect_error(404, client.show, "no-such-model")

# --- create from the pulled model, with a system prompt and parameters.
system = "You are a pirate. Answer every question as a pirate would, with many pirate words."
progress = list(client.create(model="pirate", from_=tiny, system=system, parameters={"num_predict": 8, "temperature": 0}, stream=True))
assert progress[-1].status == "success", [p.status for p in progress]
assert any(p.status == "writing manifest" for p in progress), progress
created = client.show("pirate")
assert "SYSTEM " in created.modelfile and "pirate" in created.modelfile, created.modelfile
assert created.template == shown.template, created.template
assert re.search(r"^num_predict\s+8$", created.parameters, re.M), created.parameters
# The inherited parameters stay, the given ones are merged over them.
assert re.search(r'^stop\s+"<\|im_end\|>"$', created.parameters, re.M), created.parameters
assert re.search(r"^temperature\s+0$", created.parameters, re.M), created.parameters
# Not streamed, too; from a name that does not exist, an error.
again = client.create(model="pirate2", from_="pirate", system=system)
assert again.status == "success", again
assert {"pirate:latest", "pirate2:latest"} <= {m.model for m in client.list().models}
e = expect_error(404, client.create, model="x", from_="no-such-model")
expect_error(400, client.create, model="bad/../name", from_=tiny)
expect_error(400, client.create, model="x")

# --- generate: the created model's system prompt and parameters apply.
prompt = "Where is the treasure?"
with_system = client.generate(model="pirate", prompt=prompt)
assert with_system.done and 0 < with_system.eval_count <= 8, with_system
explicit = client.generate(model=tiny, prompt=prompt, system=system, options=greedy)
assert explicit.response == with_system.response, (explicit.response, with_system.response)
plain = client.generate(model=tiny, prompt="Where is the treasure buried?", options=greedy)
assert with_system.prompt_eval_count > plain.prompt_eval_count + 10, (with_system.prompt_eval_count, plain.prompt_eval_count)
ps = client.ps()
running = {m.model for m in ps.models}
assert "pirate:latest" in running, running
for m in ps.models:
    assert m.size and m.details.format == "gguf" and m.expires_at is not None, m

# --- copy
assert client.copy("pirate", "pirate-copy").status == "success"
assert client.show("pirate-copy").modelfile.count("SYSTEM ") == 1
expect_error(404, client.copy, "no-such-model", "whatever")
copied = {m.model: m.digest for m in client.list().models}
assert copied["pirate-copy:latest"] == copied["pirate:latest"], copied

# --- push: refused (a registry account is needed), streamed as an error line or not.
try:
    list(client.push("pirate", stream=True))
    raise AssertionError("expected an error line")
except ollama.ResponseError as e:
    assert "not supported" in e.error, e
expect_error(404, client.push, "no-such-model")

# --- delete
assert client.delete("pirate-copy").status == "success"
assert "pirate-copy:latest" not in {m.model for m in client.list().models}
expect_error(404, client.delete, "pirate-copy")
expect_error(404, client.generate, model="pirate-copy", prompt="x")
for name in ("pirate", "pirate2", tiny):
    assert client.delete(name).status == "success", name
assert client.list().models == [], client.list()
# With no model left using it, the GGUF blob is gone too.
http = httpx.Client(base_url=host)
assert http.head(f"/api/blobs/{gguf_digest}").status_code == 404

# --- create from an uploaded blob (the client streams the file to /api/blobs).
if gguf:
    digest = client.create_blob(gguf)
    assert digest == gguf_digest, digest
    assert http.head(f"/api/blobs/{digest}").status_code == 200
    made = client.create(model="uploaded", files={"model.gguf": digest}, template=shown.template, system=system, parameters={"temperature": 0, "num_predict": 8})
    assert made.status == "success", made
    up = client.show("uploaded")
    assert up.details.family == "llama" and up.template == shown.template, up
    again = client.generate(model="uploaded", prompt=prompt)
    assert again.response == with_system.response, (again.response, with_system.response)
    expect_error(400, client.create, model="y", files={"model.gguf": "sha256:" + "0" * 64})
    assert client.delete("uploaded").status == "success"

print("all checks passed")
