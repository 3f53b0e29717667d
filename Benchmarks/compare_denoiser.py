#!/usr/bin/env python3
"""Reflex's MLP denoiser against the same network in PyTorch, one evaluation at batch 1 and K, alternating the two
in one run (reflex bench denoiser --json vs Benchmarks/peers/denoiser.py). Prints a markdown table.

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
reflex, torch = {}, {}
for _ in range(a.repeats):
    for name, cmd, into in (("reflex", [".build/release/reflex", "bench", "denoiser", "--json"] + args, reflex),
                            ("torch", [f"{venv}/bin/python", "Benchmarks/peers/denoiser.py"] + args, torch)):
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        for k, t in out["timings"].items():
            into.setdefault(k, []).extend(t["roundMicros"])
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
print(f"| MLP denoiser ({a.hidden}, obs {a.observation}×2, H 16 × A 6), 1 thread | Reflex median (p10–p90) | PyTorch median (p10–p90) | PyTorch / Reflex |")
print("|---|---|---|---|")
for k in sorted(reflex, key=lambda s: int(s[1:])):
    r, t = reflex[k], torch[k]
    print(f"| one evaluation, K = {k[1:]} | {statistics.median(r):.1f} µs ({q(r, .1):.1f}–{q(r, .9):.1f}) | "
          f"{statistics.median(t):.1f} µs ({q(t, .1):.1f}–{q(t, .9):.1f}) | **{statistics.median(t) / statistics.median(r):.2f}×** |")
