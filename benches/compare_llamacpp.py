#!/usr/bin/env python3
"""rollama vs llama.cpp on the same GGUF files: single-stream prefill and decode, same
threads, same prompt ids, runs alternating between the two; prints a ratio table.

    cargo build --release
    python3 -m venv ~/.cache/rollama/llvenv
    ~/.cache/rollama/llvenv/bin/pip install llama-cpp-python==0.3.36   # builds llama.cpp (~10 min)
    ~/.cache/rollama/llvenv/bin/python benches/compare_llamacpp.py --threads 2

Models: SmolLM2-135M as shipped (Q4_1) and re-quantized by llama.cpp's own
`llama_model_quantize` to Q4_0, Q8_0 and Q4_K_M (via an F16 copy; cached next to the test
models), and Gemma 3 270M Q4_K_M as shipped. Each round runs `rollama perf` and llama.cpp
(through llama-cpp-python, in a fresh process each) once per model, in alternating order;
a run is one warm-up pass and one measured pass; the table shows medians over rounds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# llama.h `llama_ftype`.
FTYPES = {"F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15}


def model_dir():
    out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return out[-1]


def quantize(src, dst, ftype):
    import llama_cpp
    if os.path.exists(dst):
        return
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    tmp = dst + ".tmp"
    rc = llama_cpp.llama_model_quantize(src.encode(), tmp.encode(), params)
    if rc != 0:
        sys.exit(f"llama_model_quantize {ftype} failed ({rc})")
    os.replace(tmp, dst)


def models(base):
    smol, gemma = os.path.join(base, "smollm2.gguf"), os.path.join(base, "gemma3.gguf")
    variants = os.path.join(base, "variants")
    os.makedirs(variants, exist_ok=True)
    f16 = os.path.join(variants, "smollm2-f16.gguf")
    quantize(smol, f16, "F16")
    out = [("SmolLM2-135M Q4_0", None), ("SmolLM2-135M Q8_0", None),
           ("SmolLM2-135M Q4_1", smol), ("SmolLM2-135M Q4_K_M", None),
           ("Gemma 3 270M Q4_K_M", gemma)]
    done = []
    for name, path in out:
        if path is None:
            kind = name.split()[-1]
            path = os.path.join(variants, f"smollm2-{kind.lower()}.gguf")
            quantize(f16, path, kind)
        done.append((name, path))
    return done


def prompt_ids(vocab, n):
    # The same ids `rollama perf` feeds (src/perf.rs `prompt_ids`).
    return [(1000 + i * 7919) % vocab for i in range(n)]


def llama_one(a):
    """One llama.cpp run in this process: prints JSON like `rollama perf --json`."""
    from llama_cpp import Llama
    llm = Llama(a.llama_one, n_ctx=a.prompt + a.decode + 16, n_batch=512, n_ubatch=512,
                n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
    prompt = prompt_ids(llm.n_vocab(), a.prompt)
    result = None
    for _ in range(2):  # warm-up, then measured
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        tok = int(llm.scores[llm.n_tokens - 1].argmax())
        prefill = a.prompt / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(a.decode):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
        result = {"prefill_tok_s": prefill, "decode_tok_s": a.decode / (time.perf_counter() - t)}
    print(json.dumps(result))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rollama", default=os.path.join(ROOT, "target", "release", "rollama"))
    ap.add_argument("--only", help="substring of the model names to run")
    ap.add_argument("--llama-one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.llama_one:
        return llama_one(a)
    if not os.path.exists(a.rollama):
        sys.exit(f"{a.rollama} missing: run `cargo build --release` first")
    common = ["--threads", str(a.threads), "--prompt", str(a.prompt), "--decode", str(a.decode)]
    rows = []
    for name, path in models(model_dir()):
        if a.only and a.only not in name:
            continue
        ours, theirs = [], []
        for r in range(a.rounds):
            rollama = lambda: ours.append(run_json([a.rollama, "perf", path, "--runs", "1", "--json"] + common))
            llama = lambda: theirs.append(run_json([sys.executable, __file__, "--llama-one", path] + common))
            for f in ((rollama, llama) if r % 2 == 0 else (llama, rollama)):
                f()
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        row = (name, med(ours, "prefill_tok_s"), med(theirs, "prefill_tok_s"),
               med(ours, "decode_tok_s"), med(theirs, "decode_tok_s"))
        rows.append(row)
        print(f"{name}: rollama {row[1]:.1f}/{row[3]:.1f}, llama.cpp {row[2]:.1f}/{row[4]:.1f} "
              "(prefill/decode tok/s)", file=sys.stderr)
    print(f"\n{a.threads} threads, {a.prompt}-token prompt, {a.decode} decoded tokens, "
          f"median of {a.rounds} alternating rounds\n")
    print("| model | rollama prefill | llama.cpp prefill | ratio | rollama decode | llama.cpp decode | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, rp, lp, rd, ld in rows:
        print(f"| {name} | {rp:.1f} | {lp:.1f} | {rp / lp:.2f}× | {rd:.1f} | {ld:.1f} | {rd / ld:.2f}× |")


if __name__ == "__main__":
    main()
