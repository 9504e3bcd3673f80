"""Schemathesis hooks of scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

Two things the OpenAPI document must not say but a fuzzing run needs:

* Budgets. A generation's length is the client's to choose (`num_predict: -1` is "until
  the context is full"), so the document leaves it open; on a CPU that is minutes per case.
  Before each call the generation budget is clamped to a few tokens and `num_ctx` to a small
  window. Values of another type are left alone: they are what the parser must refuse.
* Real models. A random `model` is a 404 before anything interesting runs; most cases get
  one of the store's real models instead (the embedding model on embedding routes), so
  the options, templates, grammars and embeddings behind them are fuzzed too.

And two things the checks must know: the 5xx answers that are Ollama's own contract, not
rollama's failures (`sanctioned`; everything else with a 5xx fails the run), and how to read
an NDJSON stream, which schemathesis cannot: `ndjson_lines_match_schema` checks every line
against the schema the document gives one line of that operation's stream.
"""

import json
import os
import random
import re

import jsonschema_rs
import schemathesis

MAX_TOKENS = int(os.environ.get("FUZZ_MAX_TOKENS", "4"))
MAX_CTX = int(os.environ.get("FUZZ_MAX_CTX", "512"))
CHAT_MODEL = os.environ.get("FUZZ_CHAT_MODEL", "smollm2")
EMBED_MODEL = os.environ.get("FUZZ_EMBED_MODEL", "all-minilm")
REAL_MODEL_SHARE = float(os.environ.get("FUZZ_REAL_MODEL_SHARE", "0.7"))

_random = random.Random(int(os.environ.get("FUZZ_SEED", "0")))

EMBEDDING_PATHS = ("/api/embed", "/api/embeddings", "/v1/embeddings")
NATIVE_GENERATION = ("/api/generate", "/api/chat")
OPENAI_GENERATION = ("/v1/chat/completions", "/v1/completions")


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _clamp(container, key, high, absent_too):
    """`container[key]` at most `high` when it is a number; set to `high` when absent or
    null if `absent_too` (an unset budget means unbounded)."""
    v = container.get(key)
    if v is None:
        if absent_too:
            container[key] = high
    elif _number(v) and (v > high or v < 1):
        container[key] = high


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    path = case.operation.path
    if path in NATIVE_GENERATION or path in EMBEDDING_PATHS or path in ("/api/tokenize", "/api/detokenize"):
        options = body.get("options")
        if options is None:
            body["options"] = options = {}
        if isinstance(options, dict):
            if path in NATIVE_GENERATION:
                _clamp(options, "num_predict", MAX_TOKENS, absent_too=True)
            _clamp(options, "num_ctx", MAX_CTX, absent_too=False)
    if path in OPENAI_GENERATION:
        _clamp(body, "max_tokens", MAX_TOKENS, absent_too=True)
        _clamp(body, "max_completion_tokens", MAX_TOKENS, absent_too=False)
    if path.startswith(("/api/", "/v1/")) and _random.random() < REAL_MODEL_SHARE:
        model = EMBED_MODEL if path in EMBEDDING_PATHS else CHAT_MODEL
        if path == "/api/copy":
            body["source"] = model
        elif path == "/api/create":
            body["from"] = model
            # Quantizing a real model takes minutes; the parser of these fields still
            # meets their other types.
            for key in ("quantize", "quantization"):
                if isinstance(body.get(key), str):
                    del body[key]
        else:
            body["model"] = model


# Ollama answers these with a 500 (shared/reference/ollama-api.md §1.4), and rollama keeps
# its statuses: a client that handles Ollama's errors handles ours.
SANCTIONED = [
    (re.compile(r"^/api/(generate|chat)$"), 500, re.compile(r"^invalid format: ")),
    (re.compile(r"^/api/(generate|chat|embed|embeddings)$"), 500,
     re.compile(r'^option "[a-z_]+" must be of type ')),
]


def sanctioned(path, status, body):
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return False
    if not isinstance(error, str):
        return False
    return any(p.match(path) and s == status and m.match(error) for p, s, m in SANCTIONED)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure but a sanctioned 5xx."""
    if type(failure).__name__ != "ServerError":
        return True
    return not sanctioned(case.operation.path, response.status_code, response.content)


_document = {}


@schemathesis.hook
def after_load_schema(context, schema):
    _document.update(schema.raw_schema)


_line_validators = {}


def _line_validator(path, method, status):
    key = (path, method, status)
    if key not in _line_validators:
        response = _document["paths"][path][method]["responses"].get(str(status), {})
        media = response.get("content", {}).get("application/x-ndjson")
        _line_validators[key] = media and jsonschema_rs.validator_for(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": _document.get("components", {}),
                **media["schema"],
            }
        )
    return _line_validators[key]


@schemathesis.check
def ndjson_lines_match_schema(ctx, response, case):
    """Every line of an `application/x-ndjson` reply matches the line schema."""
    content_type = " ".join(response.headers.get("content-type", []))
    if not content_type.startswith("application/x-ndjson"):
        return None
    validator = _line_validator(case.operation.path, case.operation.method.lower(), response.status_code)
    if not validator:
        raise AssertionError(f"an NDJSON {response.status_code} reply is not documented")
    lines = response.content.decode("utf-8").split("\n")
    if lines[-1] != "":
        raise AssertionError("the NDJSON reply does not end with a newline")
    for i, line in enumerate(lines[:-1]):
        value = json.loads(line)
        errors = [str(e) for e in validator.iter_errors(value)]
        if errors:
            raise AssertionError(f"line {i + 1} does not match its schema: {errors[0]}\n{line}")
    return None
