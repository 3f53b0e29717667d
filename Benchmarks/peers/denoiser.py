"""Peers of `reflex bench denoiser`: the same MLP denoiser (concatenated [x_t, sinusoidal emb(t), condition]
→ Linear → LayerNorm → Mish … → Linear), one evaluation at batch 1 and K, timed the same way, under PyTorch eager
and (`--onnx`) exported from the same module instance to ONNX Runtime (Benchmarks/peers/ort_peer.py: Python API,
--threads intra-op threads, sequential execution, all graph optimizations), with the cost of ONNX Runtime's Python
call alone (an Identity graph fed the same inputs) beside it.
Prints JSON like `reflex bench denoiser --json` (the ONNX Runtime figures under "onnx_timings", "onnx_call_floor").

  $(Benchmarks/peers/setup.sh) Benchmarks/peers/denoiser.py [--onnx] [--hidden 256,256,256] [--observation 29]
  ... Benchmarks/peers/denoiser.py --compare [--repeats 3] [--hidden …] [--observation …]
      (alternates `reflex bench denoiser --json` and this script, PyTorch and ONNX Runtime, in every repeat, and
      prints the BENCHMARKS.md table)
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

import ort_peer

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


class Denoiser(nn.Module):
    def __init__(self, in_size, hidden, out, emb):
        super().__init__()
        layers, w = [], in_size
        for h in hidden:
            layers += [nn.Linear(w, h), nn.LayerNorm(h), nn.Mish()]
            w = h
        layers.append(nn.Linear(w, out))
        self.net = nn.Sequential(*layers)
        half = emb // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1))))

    def forward(self, x, t, cond):
        e = t[:, None].float() * self.freqs[None]
        emb = torch.cat([e.sin(), e.cos()], dim=-1)
        return self.net(torch.cat([x.flatten(1), emb, cond.expand(x.shape[0], -1)], dim=-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", default="512,512,512")
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--action", type=int, default=6)
    ap.add_argument("--observation", type=int, default=32)
    ap.add_argument("--n-obs", type=int, default=2)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--onnx", action="store_true")
    ap.add_argument("--compare", action="store_true", help="alternate with `reflex bench denoiser` and print the table")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.compare:
        compare(a)
        return
    torch.set_num_threads(a.threads)
    hidden = [int(h) for h in a.hidden.split(",")]
    emb = 64
    cond_size = a.observation * a.n_obs
    n = a.horizon * a.action
    model = Denoiser(n + emb + cond_size, hidden, n, emb).eval()
    out = {}
    with torch.inference_mode():
        for k in [int(b) for b in a.batches.split(",")]:
            x, c, t = torch.randn(k, a.horizon, a.action), torch.randn(1, cond_size), torch.full((k,), 10)
            for _ in range(200):
                model(x, t, c)
            rounds = []
            for _ in range(a.rounds):
                t0 = time.perf_counter_ns()
                for _ in range(500):
                    model(x, t, c)
                rounds.append((time.perf_counter_ns() - t0) / 1000 / 500)
            out[f"k{k}"] = {"roundMicros": rounds}
    result = {"meta": {"threads": a.threads, "torch": torch.__version__}, "timings": out}
    if a.onnx:
        result.update(onnx_runtime(model, a, cond_size))
    print(json.dumps(result))


def onnx_runtime(model, a, cond_size):
    import onnxruntime as ort
    x, c, t = torch.randn(2, a.horizon, a.action), torch.randn(1, cond_size), torch.full((2,), 10)
    sess = ort_peer.session(ort_peer.export(model, (x, t, c), ["x", "t", "cond"], dynamic_batch=["x", "t"]), a.threads)
    out, floor = {}, {}
    for k in [int(b) for b in a.batches.split(",")]:
        feed = {"x": torch.randn(k, a.horizon, a.action).numpy(), "t": torch.full((k,), 10).numpy(),
                "cond": torch.randn(1, cond_size).numpy()}
        out[f"k{k}"] = {"roundMicros": ort_peer.timed(lambda: sess.run(None, feed), a.rounds, 500, 200)}
        floor[f"k{k}"] = {"roundMicros": ort_peer.call_floor(feed, a.rounds, 500, 200)}
    return {"onnxruntime": ort.__version__, "onnx_timings": out, "onnx_call_floor": floor}


def load_average():
    return " / ".join(open("/proc/loadavg").read().split()[:3])


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def compare(a):
    """`reflex bench denoiser --json` and this script (PyTorch, then ONNX Runtime) in turn, `a.repeats` times, the
    same shapes, threads and rounds; prints the table."""
    reflex = ROOT / ".build" / "release" / "reflex"
    args = ["--hidden", a.hidden, "--observation", str(a.observation), "--batches", a.batches, "--rounds",
            str(a.rounds), "--threads", str(a.threads), "--horizon", str(a.horizon), "--action", str(a.action),
            "--n-obs", str(a.n_obs)]
    sides = {"reflex": {}, "torch": {}, "onnx": {}, "floor": {}}
    loads, versions = [load_average()], {}

    def run(cmd):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out[out.index("{"):])

    for _ in range(a.repeats):
        r = run([str(reflex), "bench", "denoiser", "--json"] + args)
        p = run([sys.executable, __file__, "--onnx"] + args)
        versions = {"torch": p["meta"]["torch"], "onnxruntime": p["onnxruntime"]}
        for into, timings in ((sides["reflex"], r["timings"]), (sides["torch"], p["timings"]),
                              (sides["onnx"], p["onnx_timings"]), (sides["floor"], p["onnx_call_floor"])):
            for k, t in timings.items():
                into.setdefault(k, []).extend(t["roundMicros"])
        loads.append(load_average())
    m = statistics.median
    cell = lambda v: f"{m(v):,.1f} µs ({quantile(v, .1):,.1f}–{quantile(v, .9):,.1f})"
    t = f"{a.threads} thread{'s' if a.threads > 1 else ''}"
    lines = [f"| MLP denoiser {a.hidden}, obs {a.observation}×{a.n_obs}, H {a.horizon} × A {a.action}, {t} | "
             "Reflex median (p10–p90) | PyTorch eager median (p10–p90) | PyTorch / Reflex | "
             "ONNX Runtime (Python API) median (p10–p90) | ONNX Runtime / Reflex | ONNX Runtime's Python call alone |",
             "|---|---|---|---|---|---|---|"]
    for k in sorted(sides["torch"], key=lambda s: int(s[1:])):  # Reflex also times an RTC-guided call: not here
        r, p, o, f = (sides[n][k] for n in ("reflex", "torch", "onnx", "floor"))
        lines.append(f"| one evaluation, K = {k[1:]} | {cell(r)} | {cell(p)} | **{m(p) / m(r):.2f}×** | {cell(o)} | "
                     f"**{m(o) / m(r):.2f}×** | {m(f):,.1f} µs |")
    lines.append("")
    lines.append(f"Measured {datetime.date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores, shared; load "
                 f"average {loads[0]} before, {' then '.join(loads[1:])} after each repeat), torch {versions['torch']}, "
                 f"onnxruntime {versions['onnxruntime']}, {a.repeats} repeats × {a.rounds} rounds per side; reproduce "
                 f"with `Benchmarks/peers/denoiser.py --compare --repeats {a.repeats} --hidden {a.hidden} "
                 f"--observation {a.observation}`.")
    print("\n".join(lines))


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
