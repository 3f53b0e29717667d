#!/usr/bin/env python3
"""Load test of the daemon: `reflex serve` drives the simulated SO-101 (lift scene) at 100 Hz with the bundled
diffusion policy, first for 60 s with no HTTP traffic (baseline), then for 60 s while two `wrk` processes hammer
GET /v1/status and POST /v1/predict on loopback, and 20 emergency stops are sent in the last 5 s. Reports
requests/s and latency percentiles, e-stop answer and engage times, and per phase the loop's deadline misses, period
jitter, wake latency and tick duration (one episode per phase, so each histogram covers its phase), and the CPU
steal time the hypervisor took meanwhile.

  Benchmarks/serve_load.py [--seconds 60] [--connections 16] [--rate 100] [--json out.json]

Needs .build/release/reflex (swift build -c release …) and wrk (apt-get install wrk).
"""
import argparse
import json
import os
import pathlib
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFLEX = ROOT / ".build/release/reflex"


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def call(port, token, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read()
        return json.loads(data) if r.headers.get("Content-Type", "").startswith("application/json") else data.decode()


def parse_wrk(text):
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(m.group(1)) if m else None
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", text, re.M)
        out[f"p{pct}_ms"] = float(m.group(1)) * units[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1) if m else "none"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads per wrk process")
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--baseline-seconds", type=int, help="length of the window without traffic (default: --seconds)")
    ap.add_argument("--sampler", help="steer the bundled policy to this sampler first (e.g. ddpm: 100 denoiser evaluations a chunk)")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()

    load_before = os.getloadavg()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-load-"))
    token = secrets.token_urlsafe(24)
    (tmp / "token").write_text(token)
    os.chmod(tmp / "token", 0o600)
    port = free_port()
    cfg = tmp / "serve.yaml"
    cfg.write_text(f"""arm:
  robot: so101
  sim: lift
  seed: 0
policies:
  lift: {ROOT}/policies/so101-lift
listen: 127.0.0.1:{port}
token_file: {tmp}/token
rate: {a.rate}
priority: 80
""")
    log = open(tmp / "serve.log", "w")
    daemon = subprocess.Popen([str(REFLEX), "serve", "--config", str(cfg), "--log-level", "warning"], stdout=log, stderr=log, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                call(port, token, "GET", "/v1/status")
                break
            except Exception:
                time.sleep(0.1)
        if a.sampler:
            call(port, token, "POST", "/v1/steering", {"policy": "lift", "sampler": a.sampler})
        phases = {}
        for phase in ("baseline", "load"):
            # A fresh episode per phase: its telemetry (histograms, counters) covers that phase only.
            call(port, token, "POST", "/v1/episode/start", {"policy": "lift"})
            time.sleep(2)  # past the approach
            before = call(port, token, "GET", "/v1/status")["controller"]["loop"]
            steal0 = steal_ticks()
            outs = {}
            estops = []
            if phase == "baseline":
                time.sleep(a.baseline_seconds if a.baseline_seconds is not None else a.seconds)
            else:
                outs, estops = run_load(a, port, token)
            after_status = call(port, token, "GET", "/v1/status")
            after = after_status["controller"]["loop"]
            steal1 = steal_ticks()
            if phase == "load":
                assert after_status["controller"]["emergency_stop"] and after["mode"] == "stopped", "the e-stop did not take"
            else:
                call(port, token, "POST", "/v1/episode/stop")
            phases[phase] = (before, after, outs, estops, (steal1 - steal0) * 10)  # ms of steal over both CPUs
        metrics = call(port, token, "GET", "/metrics")
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    res = {"seconds": a.seconds, "sampler": a.sampler or "the policy's own", "connections_per_wrk": a.connections, "rate_hz": a.rate, "daemon_exit_code": rc,
           "load_average_before": load_before, "load_average_after": os.getloadavg(),
           "misses_logged": [l.strip() for l in open(tmp / "serve.log") if "deadline missed" in l],
           "predict_requests_counted_by_daemon": int(re.search(r"^reflex_predict_requests_total (\d+)", metrics, re.M).group(1))}
    for phase, (before, after, outs, estops, steal_ms) in phases.items():
        c0, c1 = before["counters"], after["counters"]
        t = after["timings"]
        res[phase] = {
            "ticks_in_window": c1["ticks"] - c0["ticks"],
            "deadline_misses_in_window": c1["deadline_misses"] - c0["deadline_misses"],
            "period_jitter_p99_us": t["period_jitter"]["p99"], "period_jitter_max_us": t["period_jitter"]["max"],
            "tick_duration_p99_us": t["tick_duration"]["p99"], "tick_duration_max_us": t["tick_duration"]["max"],
            "wake_latency_p99_us": t["wake_latency"]["p99"], "wake_latency_max_us": t["wake_latency"]["max"],
            "inference_p50_us": t["inference_latency"]["p50"], "dropped_samples": c1["dropped_samples"],
            "cpu_steal_ms": steal_ms,
        }
        if outs:
            res[phase]["status"] = parse_wrk(outs["status"])
            res[phase]["predict"] = parse_wrk(outs["predict"])
            # answered: request sent → answer received; engaged: request sent → the stop flag set on the event loop.
            res[phase]["estop_ms"] = {"n": len(estops),
                                      "answered_median": sorted(e[0] for e in estops)[len(estops) // 2],
                                      "answered_max": max(e[0] for e in estops),
                                      "engaged_median": sorted(e[1] for e in estops)[len(estops) // 2],
                                      "engaged_max": max(e[1] for e in estops)}
            print("\nwrk /v1/status:\n" + outs["status"] + "\nwrk /v1/predict:\n" + outs["predict"], file=sys.stderr)
    print(json.dumps(res, indent=2))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


def steal_ticks():
    """CPU steal time (all CPUs, USER_HZ ticks) from /proc/stat: time the hypervisor ran something else."""
    return int(open("/proc/stat").readline().split()[8])


def run_load(a, port, token):
    """Both wrk processes for a.seconds, and 20 e-stops (fresh connections) in the last 5 s."""
    import threading
    hdr = ["-H", f"Authorization: Bearer {token}"]
    base = ["wrk", "-t", str(a.threads), "-c", str(a.connections), "-d", f"{a.seconds}s", "--latency", "--timeout", "5s"] + hdr
    status_p = subprocess.Popen(base + [f"http://127.0.0.1:{port}/v1/status"], stdout=subprocess.PIPE, text=True)
    predict_p = subprocess.Popen(base + ["-s", str(ROOT / "Benchmarks/serve_predict.lua"), f"http://127.0.0.1:{port}/v1/predict"],
                                 stdout=subprocess.PIPE, text=True)
    estops = []

    def press():
        # The loop keeps ticking after the stop (stop_action: hold), so the timing figures cover the whole window.
        time.sleep(max(a.seconds - 5, 0.5))
        for _ in range(20):
            sent = time.monotonic_ns()  # CLOCK_MONOTONIC, the daemon's clock
            answer = call(port, token, "POST", "/v1/estop")
            estops.append(((time.monotonic_ns() - sent) * 1e-6, (answer["engaged_at_ns"] - sent) * 1e-6))
            time.sleep(0.2)

    presser = threading.Thread(target=press)
    presser.start()
    status_out, _ = status_p.communicate()
    predict_out, _ = predict_p.communicate()
    presser.join()
    return {"status": status_out, "predict": predict_out}, estops


if __name__ == "__main__":
    main()
