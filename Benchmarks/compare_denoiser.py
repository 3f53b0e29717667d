#!/usr/bin/env python3
"""Reflex's MLP denoiser against the same network in PyTorch eager and in ONNX Runtime (exported from the same module,
called through its Python API), one evaluation at batch 1 and K, Reflex and the peers in turn within each repeat
(reflex bench denoiser --json vs Benchmarks/peers/denoiser.py --onnx). Prints a markdown table.

Usage: Benchmarks/compare_denoiser.py [--repeats 3] [--hidden 256,256,256] [--observation 29]
(run from the repo root after `make build`; the peer runs in the venv made by Benchmarks/peers/setup.sh)."""
import argparse, json, os, statistics, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--hidden", default="256,256,256")
ap.add_argument("--observation", type=int, default=29)
ap.add_argument("--batches", default="1,8")
a = ap.parse_args()
venv = os.environ.get("REFLEX_PEERS_VENV", os.path.expanduser("~/.cache/reflex/peers-venv"))
args = ["--hidden", a.hidden, "--observation", str(a.observation), "--batches", a.batches, "--rounds", "15"]
reflex, torch, onnx = {}, {}, {}
load_before = open("/proc/loadavg").read().split()[:3]
for _ in range(a.repeats):
    for name, cmd, into in (("reflex", [".build/release/reflex", "bench", "denoiser", "--json"] + args, reflex),
                            ("torch", [f"{venv}/bin/python", "Benchmarks/peers/denoiser.py", "--onnx"] + args, torch)):
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        for k, t in out["timings"].items():
            into.setdefault(k, []).extend(t["roundMicros"])
        for k, t in out.get("onnx_timings", {}).items():
            onnx.setdefault(k, []).extend(t["roundMicros"])
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
cell = lambda v: f"{statistics.median(v):.1f} µs ({q(v, .1):.1f}–{q(v, .9):.1f})"
print(f"| MLP denoiser ({a.hidden}, obs {a.observation}×2, H 16 × A 6), 1 thread | Reflex median (p10–p90) | PyTorch eager median (p10–p90) | PyTorch / Reflex | ONNX Runtime (Python API) median (p10–p90) | ONNX Runtime / Reflex |")
print("|---|---|---|---|---|---|")
for k in sorted(reflex, key=lambda s: int(s[1:])):
    r, t, o = reflex[k], torch[k], onnx[k]
    m = statistics.median
    print(f"| one evaluation, K = {k[1:]} | {cell(r)} | {cell(t)} | **{m(t) / m(r):.2f}×** | {cell(o)} | **{m(o) / m(r):.2f}×** |")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\n{cpu}, load average {' '.join(load_before)} before and {' '.join(open('/proc/loadavg').read().split()[:3])} after; "
      f"`Benchmarks/compare_denoiser.py --repeats {a.repeats} --hidden {a.hidden} --observation {a.observation}`")
