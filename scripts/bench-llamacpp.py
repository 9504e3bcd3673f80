#!/usr/bin/env python3
"""llama.cpp's single-stream prefill and decode speed on a GGUF, for side-by-side figures
with `cargo bench --bench generate` (same file, same thread count, same token counts).

    /tmp/gold/bin/python scripts/bench-llamacpp.py ~/.cache/rollama/models/smollm2.gguf --threads 2
"""
import argparse
import statistics
import time

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int, default=128)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    llm = Llama(a.model, n_ctx=1024, n_batch=512, n_threads=a.threads, n_threads_batch=a.threads,
                verbose=False)
    prompt = llm.tokenize(("The quick brown fox jumps over the lazy dog. " * 40).encode(), add_bos=False)[: a.prefill]
    assert len(prompt) == a.prefill
    prefill, decode = [], []
    for _ in range(a.runs + 1):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        prefill.append(a.prefill / (time.perf_counter() - t))
        tok = int(llm.scores[llm.n_tokens - 1].argmax())
        t = time.perf_counter()
        for _ in range(a.decode):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
        decode.append(a.decode / (time.perf_counter() - t))
    prefill, decode = prefill[1:], decode[1:]  # first run warms up
    print(f"llama.cpp threads={a.threads} prefill({a.prefill}) {statistics.median(prefill):.1f} tok/s; "
          f"decode(at {a.prefill}) {statistics.median(decode):.1f} tok/s (median of {a.runs})")


if __name__ == "__main__":
    main()
