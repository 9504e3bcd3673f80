#!/usr/bin/env python3
"""RSS of a server after loading three models, traffic, and unloading them all.

usage: benches/unload_rss.py target/release/rollama PORT STORE  (STORE holding smollm2.gguf,
gemma3.gguf and all-minilm/, e.g. links into ~/.cache/rollama/models)"""
import json, urllib.request, subprocess, time, sys, concurrent.futures as cf
BIN, PORT, STORE = sys.argv[1], sys.argv[2], sys.argv[3]
p = subprocess.Popen([BIN, "serve", "--models", STORE, "--host", f"127.0.0.1:{PORT}", "--threads", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}"+path, data=json.dumps(body).encode(), headers={"content-type":"application/json"})
    with urllib.request.urlopen(req, timeout=600) as r: return json.loads(r.read())
print("start", rss(), "MB")
def traffic(i):
    m = ["smollm2", "gemma3"][i % 2]
    post("/api/chat", {"model": m, "messages":[{"role":"user","content":f"Tell me story number {i}."}], "stream": False, "options": {"num_predict": 64}})
    post("/api/embed", {"model": "all-minilm", "input": [f"sentence {i} {j}" for j in range(32)]})
with cf.ThreadPoolExecutor(8) as ex: list(ex.map(traffic, range(24)))
print("loaded, after traffic (3 models, 24 chats, 24 embed batches)", rss(), "MB")
ps = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/ps").read())
print("ps:", [m["name"] for m in ps["models"]])
for m in ["smollm2", "gemma3"]: post("/api/generate", {"model": m, "keep_alive": 0})
post("/api/embed", {"model": "all-minilm", "keep_alive": 0})
time.sleep(2)
ps = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/ps").read())
print("after unload, ps:", [m["name"] for m in ps["models"]], rss(), "MB")
p.terminate(); p.wait()
