#!/usr/bin/env python3
"""Generate tests/fixtures/goldens/embed-minilm.json: all-MiniLM-L6-v2 sentence vectors from
sentence-transformers (the reference implementation), on CPU, one sentence at a time.

Needs `sentence-transformers` (PyPI; pulls torch and transformers). Not run by CI: the output
is committed. Run it again when the model or a case changes:

    python3 -m venv /tmp/stvenv && /tmp/stvenv/bin/pip install sentence-transformers
    /tmp/stvenv/bin/python scripts/gen-embed-goldens.py "$(scripts/fetch-models)/all-minilm"

Per sentence it records:
- `ids`: the HF tokenizer's ids with [CLS]/[SEP], not truncated;
- `model_ids`: the ids sentence-transformers actually fed the model (truncated to
  max_seq_length: the text's tokens are cut and the final [SEP] kept);
- `embedding`: the pipeline's output (Transformer → mean Pooling → Normalize), unit length;
- `norm`: the L2 norm of the pooled vector before Normalize (pins the pooling divisor,
  which normalization alone would hide).
`triples` are (anchor, paraphrase, unrelated) indices whose order the reference satisfies:
cos(anchor, paraphrase) > cos(anchor, unrelated).
"""
import json
import os
import sys

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "goldens", "embed-minilm.json")

LONG = (
    "Embedding models map text to vectors so that texts with similar meanings end up close "
    "together. A search engine can then compare a query with millions of documents by a "
    "single dot product each, instead of reading every document again. "
)

SENTENCES = [
    "Hello, world!",  # 0
    "The quick brown fox jumps over the lazy dog.",  # 1
    "A fast brown fox leaps over a sleepy dog.",  # 2: paraphrase of 1
    "The stock market fell sharply on Tuesday after the interest rate announcement.",  # 3
    "Shares dropped steeply on Tuesday following the central bank's rate decision.",  # 4: ~3
    "How do I bake sourdough bread at home?",  # 5
    "What is the recipe for homemade sourdough bread?",  # 6: ~5
    "The mitochondria is the powerhouse of the cell.",  # 7
    "Ich habe heute keine Zeit, vielleicht morgen.",  # 8
    "Café, naïve, résumé, façade, coöperate, São Paulo, Zürich.",  # 9
    "東京は日本の首都です。",  # 10
    "北京是中国的首都，上海是最大的城市。",  # 11
    "I love this! 😀🎉👍🏽 Best day ever 🇫🇷",  # 12
    "fn main() { println!(\"{}\", 1 + 2); } // prints 3",  # 13
    "def squares(n):\n    return [i ** 2 for i in range(n)]",  # 14
    "Numbers: 1234567890, 3.14159, 1e-9, 0xFF, -42, 50%.",  # 15
    "Wait... what?!? (Really.) [Yes] {no} <maybe> \"quoted\" 'single' — dash – en",  # 16
    "a",  # 17: shortest
    "   leading and trailing spaces\tand\ttabs\n\nand newlines   ",  # 18
    "The weather is lovely today.",  # 19
    "It is so sunny outside today!",  # 20: ~19
    "He drove to the stadium to watch the football match.",  # 21
    "A man is playing a guitar on stage.",  # 22
    "Someone performs music with a guitar in front of an audience.",  # 23: ~22
    "http://example.com/path?q=1&b=2#frag user@example.org",  # 24
    LONG * 8,  # 25: longer than max_seq_length (truncated)
]

TRIPLES = [
    (1, 2, 3),
    (3, 4, 22),
    (5, 6, 7),
    (19, 20, 13),
    (22, 23, 5),
    (4, 3, 19),
]


def main():
    model_dir = sys.argv[1]
    torch.set_num_threads(1)
    model = SentenceTransformer(model_dir, device="cpu")
    unnormalized = SentenceTransformer(modules=[model[0], model[1]], device="cpu")
    tok = model.tokenizer
    max_len = model.max_seq_length

    cases = []
    for text in SENTENCES:
        ids = tok(text, add_special_tokens=True, truncation=False)["input_ids"]
        features = model.tokenize([text])
        model_ids = features["input_ids"][0].tolist()
        emb = model.encode([text], batch_size=1, convert_to_numpy=True)[0]
        raw = unnormalized.encode([text], batch_size=1, convert_to_numpy=True)[0]
        assert abs(np.linalg.norm(emb) - 1.0) < 1e-5
        assert np.allclose(raw / np.linalg.norm(raw), emb, atol=1e-6)
        cases.append({
            "text": text,
            "ids": ids,
            "model_ids": model_ids,
            "norm": float(np.linalg.norm(raw)),
            "embedding": [float(x) for x in emb],
        })

    truncated = [c for c in cases if c["ids"] != c["model_ids"]]
    assert len(truncated) == 1, "exactly the long sentence is truncated"
    for c in truncated:
        # The rule that reproduces sentence-transformers: keep max_len - 1 tokens, then [SEP].
        assert c["model_ids"] == c["ids"][: max_len - 1] + [c["ids"][-1]]

    embs = np.array([c["embedding"] for c in cases])
    for a, near, far in TRIPLES:
        assert embs[a] @ embs[near] > embs[a] @ embs[far], (a, near, far)

    doc = {
        "model": "all-MiniLM-L6-v2",
        "reference": "sentence-transformers SentenceTransformer.encode, CPU, one sentence per call",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": max_len,
        "truncation": "text tokens cut to max_seq_length - 2, then [CLS]/[SEP] added: "
                      "ids[:max_seq_length - 1] + [final SEP]",
        "pooling": "mean",
        "normalize": True,
        "triples": TRIPLES,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    print(f"wrote {OUT}: {len(cases)} sentences, {len(truncated)} truncated")


if __name__ == "__main__":
    main()
