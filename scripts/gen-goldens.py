#!/usr/bin/env python3
"""Generate the golden fixtures that tie rollama's numerics to llama.cpp.

Needs `llama-cpp-python` and `jinja2` (PyPI). Not run by CI: the outputs are committed under
tests/fixtures/goldens/. Run it again when a model or a case changes:

    python3 -m venv /tmp/gold && /tmp/gold/bin/pip install llama-cpp-python==0.3.36 jinja2
    /tmp/gold/bin/python scripts/gen-goldens.py "$(scripts/fetch-models)"
"""
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.sandbox
from llama_cpp import Llama, __version__ as llama_cpp_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "goldens")

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and\ttabs\n\nand newlines   ",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    "def f(x):\n\treturn [i**2 for i in range(x)]  # squares",
    "日本語のテキストと中文文本，还有한국어.",
    "Emoji: 😀🎉👍🏽 and 🇫🇷 flags",
    "Numbers 1234567890 and 3.14159, 1e-9, 0xFF",
    "mixed CASE words, don't won't it's I'm we'll",
    "          ",
    "a\u00e9\u00e8\u00ea\u00eb \u00df \u00e6\u00f8\u00e5 \u0416\u0438\u0437\u043d\u044c",
    "",
    " ",
    "\n",
    "http://example.com/path?q=1&b=2#frag",
]
SPECIAL = {
    "smollm2": ["<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>text after eos"],
    "gemma3": ["<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n", "<bos>hello<eos>"],
}
PROMPTS = {
    "smollm2": [
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
        "def fibonacci(n):\n",
        "Once upon a time",
        "The three primary colors are",
        "<|im_start|>user\nList the days of the week.<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nTranslate 'good morning' to Spanish.<|im_end|>\n<|im_start|>assistant\n",
        "import numpy as np\n",
        "1, 2, 3, 4, 5,",
        "Water boils at",
    ],
    "gemma3": [
        "The capital of France is",
        "def fibonacci(n):\n",
        "Once upon a time",
        "日本の首都は",
        "The three primary colors are",
        "import numpy as np\n",
        "1, 2, 3, 4, 5,",
        "Water boils at",
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
        "Monday, Tuesday,",
    ],
}
N_GEN = 32
N_THREADS = 2


def greedy(llm, prompt_ids, n):
    llm.reset()
    llm.eval(prompt_ids)
    out, margins = [], []
    first_top = None
    for _ in range(n):
        logits = llm.scores[llm.n_tokens - 1]
        tok = int(logits.argmax())
        top = logits.argsort()[::-1][:5]
        if first_top is None:
            first_top = [[int(i), float(logits[i])] for i in top]
        # How far llama.cpp's own choice is ahead of its runner-up: a near-tie here can
        # legitimately flip under any other float summation order.
        margins.append(float(logits[top[0]] - logits[top[1]]))
        out.append(tok)
        if llm.token_eos() == tok:
            break
        llm.eval([tok])
    return out, first_top, margins


def hf_env():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.filters["tojson"] = lambda x, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Why is the sky blue?"}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "  Tell me a joke.  "},
    ],
]


def main():
    store = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/rollama/models")
    os.makedirs(OUT, exist_ok=True)
    templates = []
    for name in ["smollm2", "gemma3"]:
        path = os.path.join(store, f"{name}.gguf")
        llm = Llama(path, n_ctx=1024, n_threads=N_THREADS, n_batch=512, verbose=False, logits_all=True)
        md = llm.metadata
        add_bos = md.get("tokenizer.ggml.add_bos_token", "false") == "true"

        cases = []
        for text in TEXTS + SPECIAL[name]:
            for bos in ([True, False] if text == TEXTS[0] else [add_bos]):
                ids = llm.tokenize(text.encode(), add_bos=bos, special=True)
                cases.append({"text": text, "add_bos": bos, "ids": ids})
        with open(os.path.join(OUT, f"tokenize-{name}.json"), "w") as f:
            json.dump({"model": name, "llama_cpp_python": llama_cpp_version, "cases": cases}, f, ensure_ascii=False, indent=1)

        gcases = []
        for prompt in PROMPTS[name]:
            ids = llm.tokenize(prompt.encode(), add_bos=add_bos, special=True)
            gen, top, margins = greedy(llm, ids, N_GEN)
            text = llm.detokenize(gen).decode("utf-8", errors="replace")
            gcases.append({"prompt": prompt, "prompt_ids": ids, "generated_ids": gen,
                           "generated_text": text, "first_top5": top,
                           "margins": [round(m, 4) for m in margins]})
        with open(os.path.join(OUT, f"greedy-{name}.json"), "w") as f:
            json.dump({"model": name, "llama_cpp_python": llama_cpp_version, "n_threads": N_THREADS,
                       "cases": gcases}, f, ensure_ascii=False, indent=1)

        if name == "smollm2":
            source, src_name = md["tokenizer.chat_template"], "gguf"
        else:
            with open(os.path.join(ROOT, "src", "text", "templates", "gemma3.jinja")) as f:
                source, src_name = f.read(), "builtin"
        bos_tok = llm.detokenize([llm.token_bos()], special=True).decode() if llm.token_bos() >= 0 else ""
        eos_tok = llm.detokenize([llm.token_eos()], special=True).decode()
        tmpl = hf_env().from_string(source)
        for conv in CONVERSATIONS:
            for agp in [True, False]:
                rendered = tmpl.render(messages=conv, add_generation_prompt=agp, bos_token=bos_tok, eos_token=eos_tok)
                templates.append({"model": name, "source": src_name, "bos_token": bos_tok, "eos_token": eos_tok,
                                  "messages": conv, "add_generation_prompt": agp, "rendered": rendered})
        del llm
    with open(os.path.join(OUT, "templates.json"), "w") as f:
        json.dump(templates, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
