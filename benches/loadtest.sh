#!/usr/bin/env bash
# Side-by-side load test on the same GGUF and the same number of threads:
#   rollama (Ollama API, default weights and --cpu-requantize)
#   llama.cpp's llama-server with -np 1 (one slot, Ollama's default) and -np 8
# each driven by `rollama bench` with 1 and 8 concurrent streaming clients.
#
#   benches/loadtest.sh                 # SmolLM2, 2 threads, 3 rounds per client
#   THREADS=4 ROUNDS=2 benches/loadtest.sh
#
# llama-server is built once from the llama-cpp-python source distribution (its vendored
# llama.cpp) into ~/.cache/rollama/llama.cpp, unless LLAMA_SERVER points at a binary.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
threads="${THREADS:-2}"
rounds="${ROUNDS:-3}"
max_tokens="${MAX_TOKENS:-128}"
model="${MODEL:-smollm2}"
cache="${ROLLAMA_CACHE:-$HOME/.cache/rollama}"
llamacpp_version=0.3.36
out="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

models_dir="$(scripts/fetch-models)"
gguf="$models_dir/$model.gguf"
store="$out/store"
mkdir -p "$store"
ln -s "$gguf" "$store/$model.gguf"

build_llama_server() {
    local src="$cache/llama.cpp/llama_cpp_python-$llamacpp_version/vendor/llama.cpp"
    local bin="$src/build/bin/llama-server"
    if [ ! -x "$bin" ]; then
        echo "building llama-server from llama-cpp-python $llamacpp_version (once, ~15 min on 2 cores)" >&2
        mkdir -p "$cache/llama.cpp"
        python3 -m venv "$cache/llama.cpp/venv"
        "$cache/llama.cpp/venv/bin/pip" install -q cmake ninja
        "$cache/llama.cpp/venv/bin/pip" download -q --no-deps --no-binary :all: \
            "llama-cpp-python==$llamacpp_version" -d "$cache/llama.cpp"
        tar xzf "$cache/llama.cpp/llama_cpp_python-$llamacpp_version.tar.gz" -C "$cache/llama.cpp"
        # Not GGML_NATIVE: on CPUs with AMX the native build dies with SIGILL here.
        local avx512=OFF
        grep -q avx512f /proc/cpuinfo && avx512=ON
        PATH="$cache/llama.cpp/venv/bin:$PATH" cmake -S "$src" -B "$src/build" -G Ninja \
            -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON \
            -DGGML_F16C=ON -DGGML_AVX512="$avx512" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
            -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
        PATH="$cache/llama.cpp/venv/bin:$PATH" cmake --build "$src/build" --target llama-server -j "$(nproc)" >&2
    fi
    echo "$bin"
}
llama_server="${LLAMA_SERVER:-$(build_llama_server)}"

cargo build --release --quiet
rollama="$root/target/release/rollama"

wait_up() { # url
    for _ in $(seq 600); do
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "server at $1 did not come up" >&2
    return 1
}

bench() { # label api port concurrency
    # With 8 clients, also time a new request on the idle server and while 7 others stream.
    local probes=0
    [ "$4" -gt 1 ] && probes=5
    "$rollama" bench --url "http://127.0.0.1:$3" --api "$2" --model "$model" -c "$4" \
        --rounds "$rounds" --max-tokens "$max_tokens" --label "$1" --probes "$probes" \
        --json >>"$out/results.jsonl"
    tail -n 1 "$out/results.jsonl" >&2
}

run_rollama() { # label extra-flags...
    local label="$1"
    shift
    RAYON_NUM_THREADS="$threads" OLLAMA_NUM_PARALLEL=8 "$rollama" serve --models "$store" \
        --host 127.0.0.1:18434 "$@" >"$out/rollama.log" 2>&1 &
    local pid=$!
    wait_up http://127.0.0.1:18434/api/version
    for c in 1 8; do bench "$label" ollama 18434 "$c"; done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_llamacpp() { # slots
    "$llama_server" -m "$gguf" -t "$threads" -tb "$threads" -np "$1" -c $((2048 * $1)) \
        --host 127.0.0.1 --port 18435 >"$out/llama.log" 2>&1 &
    local pid=$!
    wait_up http://127.0.0.1:18435/health
    for c in 1 8; do bench "llama.cpp -np $1" openai 18435 "$c"; done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_rollama "rollama"
run_rollama "rollama --cpu-requantize" --cpu-requantize
run_llamacpp 1
run_llamacpp 8

python3 - "$out/results.jsonl" "$model" "$threads" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n{sys.argv[2]}, {sys.argv[3]} threads, {rows[0]['requests'] if rows else 0} requests per 1-client run")
print("| server | clients | aggregate tok/s | × 1 client | TTFT p50 ms | TTFT p95 ms | per-stream tok/s p50 | new request TTFT idle → busy (ms) | failed |")
print("|---|---|---|---|---|---|---|---|---|")
single = {}
for r in rows:
    if r["concurrency"] == 1:
        single[r["label"]] = r["aggregate_tok_s"]
    gain = r["aggregate_tok_s"] / single.get(r["label"], float("nan"))
    p = r.get("probe")
    probe = f"{p['idle_ttft_p50_ms']:.0f} → {p['loaded_ttft_p50_ms']:.0f} ({p['ratio']:.2f}×)" if p else ""
    print(f"| {r['label']} | {r['concurrency']} | {r['aggregate_tok_s']:.1f} | {gain:.2f} | {r['ttft_p50_ms']:.0f} "
          f"| {r['ttft_p95_ms']:.0f} | {r['stream_tok_s_p50']:.1f} | {probe} | {len(r['errors'])} |")
EOF
