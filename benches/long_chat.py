#!/usr/bin/env python3
"""Time of chats of 1,000 to 50,000 messages truncated into num_ctx 256, and of over-wide schemas.

usage: benches/long_chat.py target/release/rollama PORT STORE  (STORE holding smollm2.gguf)"""
import json, urllib.request, subprocess, time, sys
BIN, PORT, STORE = sys.argv[1], sys.argv[2], sys.argv[3]
p = subprocess.Popen([BIN, "serve", "--models", STORE, "--host", f"127.0.0.1:{PORT}", "--threads", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}"+path, data=json.dumps(body).encode(), headers={"content-type":"application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read())
post("/api/generate", {"model": "smollm2"})
for n in [1000, 2000, 10000, 50000]:
    msgs = [{"role": "system", "content": "Be brief."}] + [{"role": ["user","assistant"][i%2], "content": f"message {i} of a very long chat"} for i in range(n)]
    t = time.time()
    s, v = post("/api/chat", {"model": "smollm2", "messages": msgs, "stream": False, "options": {"num_ctx": 256, "num_predict": 1}})
    print(n, "messages:", s, round(time.time()-t, 3), "s", "prompt_eval_count", v.get("prompt_eval_count"))
props = {f"f{i}": {"type": "integer"} for i in range(1000)}
for name, schema in [("1000 props", {"type":"object","properties":props}), ("4500 props", {"type":"object","properties":{f"f{i}": {"type": "integer"} for i in range(4500)}})]:
    t = time.time()
    s, v = post("/api/generate", {"model":"smollm2","prompt":"hi","format":schema,"stream":False,"options":{"num_predict":8}})
    print(name, s, round(time.time()-t,3), "s", str(v)[:120])
p.terminate(); p.wait()
