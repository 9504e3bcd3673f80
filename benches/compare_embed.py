#!/usr/bin/env python3
"""sentence-transformers on CPU, the reference for `cargo bench --bench embed`: the same 64
sentences (embed-sentences.txt), batches of 1, 16 and 64, text to unit vector
(`SentenceTransformer.encode(..., normalize_embeddings=True)`: tokenize, forward, pool,
normalize), the same timing (one warm-up pass, then passes for about 3 s, at least 5;
median pass) and the same table.

    /tmp/stvenv/bin/pip install sentence-transformers
    /tmp/stvenv/bin/python benches/compare_embed.py --threads 2
"""
import argparse
import os
import statistics
import subprocess
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCHES = [1, 16, 64]


def model_dir():
    out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return os.path.join(out[-1], "all-minilm")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("ROLLAMA_NUM_THREADS", "2")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    model = SentenceTransformer(model_dir(), device="cpu")
    with open(os.path.join(HERE, "embed-sentences.txt")) as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    tokens = sum(len(ids) for ids in model.tokenizer(sentences)["input_ids"])

    def embed_all(batch):
        model.encode(sentences, batch_size=batch, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)

    print(f"sentence-transformers {sentence_transformers.__version__} (torch {torch.__version__}) "
          f"all-MiniLM-L6-v2, threads={torch.get_num_threads()}, {len(sentences)} sentences, "
          f"{tokens / len(sentences):.1f} tokens on average")
    print(f"{'batch':>5} {'emb/s':>10} {'ms/batch':>12}")
    with torch.inference_mode():
        for batch in BATCHES:
            embed_all(batch)
            passes = []
            start = time.perf_counter()
            while len(passes) < 5 or time.perf_counter() - start < 3.0:
                t = time.perf_counter()
                embed_all(batch)
                passes.append(time.perf_counter() - t)
            median = statistics.median(passes)
            calls = -(-len(sentences) // batch)
            print(f"{batch:>5} {len(sentences) / median:>10.1f} {median * 1e3 / calls:>12.2f}")


if __name__ == "__main__":
    main()
