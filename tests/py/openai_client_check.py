"""The official `openai` Python client, unchanged, against rollama's /v1.

Usage: openai_client_check.py BASE_URL. Prints "all checks passed" at the end; any failed
check raises. Needs the models `smollm2` and `all-minilm` in the server's store.
"""

import base64
import math
import struct
import sys

import openai

base = sys.argv[1]
client = openai.OpenAI(base_url=f"{base}/v1", api_key="rollama", max_retries=0)

# Models.
ids = sorted(m.id for m in client.models.list())
assert ids == ["all-minilm:latest", "smollm2:latest"], ids
assert client.models.retrieve("smollm2:latest").id == "smollm2:latest"

# Chat, whole and streamed: the same text at temperature 0.
ask = dict(
    model="smollm2",
    messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name three fruits."},
    ],
    temperature=0,
    max_tokens=20,
)
whole = client.chat.completions.create(**ask)
text = whole.choices[0].message.content
assert whole.object == "chat.completion" and text, whole
assert whole.choices[0].finish_reason in ("stop", "length")
assert whole.usage.completion_tokens > 0 and whole.usage.prompt_tokens > 0

parts, finish, usage, roles = [], None, None, []
with client.chat.completions.create(
    **ask, stream=True, stream_options={"include_usage": True}
) as stream:
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
assert "".join(parts) == text, ("".join(parts), text)
assert roles == ["assistant"], roles
assert finish == whole.choices[0].finish_reason
assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens

# Logprobs.
lp = client.chat.completions.create(**ask, logprobs=True, top_logprobs=2)
content = lp.choices[0].logprobs.content
assert "".join(t.token for t in content) == text
assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in content)

# Legacy completions, whole and streamed.
comp = client.completions.create(
    model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0
)
ctext = comp.choices[0].text
assert "Paris" in ctext, ctext
streamed = "".join(
    c.choices[0].text
    for c in client.completions.create(
        model="smollm2",
        prompt="The capital of France is",
        max_tokens=8,
        temperature=0,
        stream=True,
    )
    if c.choices
)
assert streamed == ctext, (streamed, ctext)

# Embeddings: floats and base64 agree; vectors are unit length.
inputs = ["The cat sits on the mat.", "A feline rests on a rug.", "Stock prices fell."]
floats = client.embeddings.create(model="all-minilm", input=inputs)
assert [d.index for d in floats.data] == [0, 1, 2]
vecs = [d.embedding for d in floats.data]
assert all(len(v) == 384 for v in vecs)
assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in vecs)
cos = lambda a, b: sum(x * y for x, y in zip(a, b))
assert cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2])
assert floats.usage.prompt_tokens > 0
raw = client.embeddings.create(model="all-minilm", input=inputs[0], encoding_format="base64")
packed = base64.b64decode(raw.data[0].embedding)
decoded = struct.unpack(f"<{len(packed) // 4}f", packed)
assert max(abs(a - b) for a, b in zip(decoded, vecs[0])) < 1e-6
short = client.embeddings.create(model="all-minilm", input=inputs[0], dimensions=64)
assert len(short.data[0].embedding) == 64

# Errors: the SDK's typed exceptions.
try:
    client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404 and "nope" in e.message
try:
    client.chat.completions.create(**ask, n=2)
    raise AssertionError("n=2 accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400
try:
    client.chat.completions.create(
        model="all-minilm", messages=[{"role": "user", "content": "x"}]
    )
    raise AssertionError("an embedding model chatted")
except openai.BadRequestError as e:
    assert "does not support chat" in e.message, e.message

print("all checks passed")
