#!/usr/bin/env python3
"""Remote inference side by side: `reflex serve`'s POST /v1/predict against a Python server in the style of
LeRobot's async inference (Benchmarks/peers/serve_python.py: the same MLP denoiser in PyTorch, same number of network
evaluations, JSON over HTTP), each loaded by `wrk` on loopback for the same time with the same connections, one after
the other, repeated. The daemon serves a fake arm with no episode running, so both do only inference.

  Benchmarks/serve_predict_compare.py [--seconds 30] [--connections 16] [--repeats 2]
"""
import argparse
import json
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from serve_load import ROOT, REFLEX, free_port, parse_wrk  # noqa: E402

PY = pathlib.Path.home() / ".cache/reflex/peers-venv/bin/python"


def wait_up(url, headers):
    for _ in range(200):
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:  # noqa: BLE001
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wrk(a, url, token=None):
    lua = ROOT / "Benchmarks/serve_predict.lua"
    cmd = ["wrk", "-t", "1", "-c", str(a.connections), "-d", f"{a.seconds}s", "--latency", "--timeout", "5s", "-s", str(lua)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    return parse_wrk(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-predict-"))
    token = secrets.token_urlsafe(24)
    (tmp / "token").write_text(token)
    os.chmod(tmp / "token", 0o600)
    rport, pport = free_port(), free_port()
    (tmp / "serve.yaml").write_text(f"""arm:
  robot: so101
  fake: true
policies:
  lift: {ROOT}/policies/so101-lift
listen: 127.0.0.1:{rport}
token_file: {tmp}/token
""")
    daemon = subprocess.Popen([str(REFLEX), "serve", "--config", str(tmp / "serve.yaml"), "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = subprocess.Popen([str(PY), str(ROOT / "Benchmarks/peers/serve_python.py"), "--port", str(pport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = {"reflex": [], "python": []}
    try:
        wait_up(f"http://127.0.0.1:{rport}/v1/status", {"Authorization": f"Bearer {token}"})
        wait_up(f"http://127.0.0.1:{pport}/", {})
        for _ in range(a.repeats):
            rows["reflex"].append(wrk(a, f"http://127.0.0.1:{rport}/v1/predict", token))
            rows["python"].append(wrk(a, f"http://127.0.0.1:{pport}/predict"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        peer.kill()
        daemon.wait(timeout=20)
    res = {"seconds": a.seconds, "connections": a.connections, "load_average": os.getloadavg(), "runs": rows}
    print(json.dumps(res, indent=2))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
