#!/usr/bin/env python3
"""Runs a Reflex benchmark and its peer side by side, alternating, on the same machine, and prints (or writes into
BENCHMARKS.md) the table rows: median per-call time of each, its 10-90% spread across rounds, and the ratio.

  Benchmarks/compare.py nn [--repeats 3] [--write]

Reflex runs from .build/release/reflex (build it with `make build`); peers run from the virtual environment that
Benchmarks/peers/setup.sh creates ($REFLEX_PEERS_VENV or ~/.cache/reflex/peers-venv).
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = pathlib.Path(os.environ.get("REFLEX_PEERS_VENV", pathlib.Path.home() / ".cache/reflex/peers-venv"))
PY = VENV / "bin" / "python"
REFLEX = ROOT / ".build" / "release" / "reflex"


def load_average():
    return " / ".join(open("/proc/loadavg").read().split()[:3])


LOAD = [load_average()]


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def libtorch_peer():
    """The C++ libtorch peer's binary (Benchmarks/peers/build_libtorch.sh builds it into .build/peers/)."""
    out = subprocess.run([str(ROOT / "Benchmarks/peers/build_libtorch.sh")], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def suite_nn(repeats):
    """reflex bench nn vs Benchmarks/peers/nn.py (PyTorch eager, ONNX Runtime from Python) and the C++ libtorch peer,
    in turn within each repeat."""
    figures = {}

    def add(key, rounds):
        figures.setdefault(key, []).extend(rounds)

    mlp = "MLP inference, batch 1 (64→3×256 Mish→16), 1 thread"
    cpp = libtorch_peer()
    model = "/tmp/reflex-nn-mlp.pt"
    for _ in range(repeats):
        r = run_json([str(REFLEX), "bench", "nn", "--json", "--rounds", "15"])
        p = run_json([str(PY), str(ROOT / "Benchmarks/peers/nn.py"), "--rounds", "15", "--torchscript", model])
        c = run_json([cpp, model, "15"])
        add((mlp, "reflex"), r["inference"]["roundMicros"])
        add((mlp, "PyTorch " + p["torch"] + " eager (Python)"), p["inference"]["roundMicros"])
        add((mlp, "ONNX Runtime " + p["onnxruntime"] + " (Python API)"), p["onnx_inference"]["roundMicros"])
        add((mlp, "ONNX Runtime's Python call alone (Identity graph)"), p["onnx_call_floor"]["roundMicros"])
        add((mlp, "libtorch " + c["torch"] + " (C++, TorchScript of the same module)"), c["inference"]["roundMicros"])
        for t in r["training"]:
            add((f"Training step, batch 256 (64→2×256 ReLU→16, MSE, Adam), {t['threads']} thread{'s' if t['threads'] > 1 else ''}", "reflex"), t["samples"]["roundMicros"])
        for t in p["training"]:
            add((f"Training step, batch 256 (64→2×256 ReLU→16, MSE, Adam), {t['threads']} thread{'s' if t['threads'] > 1 else ''}", "PyTorch " + p["torch"] + " eager (Python)"), t["samples"]["roundMicros"])
    rows = []
    for name in dict.fromkeys(k[0] for k in figures):
        a = figures[(name, "reflex")]
        for (n, who), b in figures.items():
            if n == name and who != "reflex":
                rows.append((name, who, a, b))
    cmd = "Benchmarks/compare.py nn --repeats %d" % repeats
    return rows, cmd


_torch = None


def torch_version():
    global _torch
    if _torch is None:
        _torch = subprocess.run([str(PY), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                text=True).stdout.strip()
    return _torch


def table(rows, cmd):
    lines = ["| figure | Reflex median (p10–p90) | peer | peer median (p10–p90) | peer / Reflex |",
             "|---|---|---|---|---|"]
    for name, peer, a, b in rows:
        ma, mb = statistics.median(a), statistics.median(b)
        fmt = lambda xs, m: f"{m:,.1f} µs ({quantile(xs, .1):,.1f}–{quantile(xs, .9):,.1f})"
        lines.append(f"| {name} | {fmt(a, ma)} | {peer} | {fmt(b, mb)} | **{mb / ma:.2f}×** |")
    stamp = datetime.date.today().isoformat()
    lines.append("")
    lines.append(f"Measured {stamp} on {cpu_name()} ({os.cpu_count()} cores; load average {LOAD[0]} before and "
                 f"{load_average()} after), Reflex and each peer in turn within every repeat; reproduce with `{cmd}`.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=["nn"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="replace the suite's section in BENCHMARKS.md")
    args = ap.parse_args()
    if not REFLEX.exists():
        sys.exit(f"{REFLEX} not found: run `make build` first")
    LOAD[0] = load_average()
    rows, cmd = {"nn": suite_nn}[args.suite](args.repeats)
    text = table(rows, cmd)
    print(text)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        doc = path.read_text()
        begin, end = f"<!-- {args.suite}:begin -->", f"<!-- {args.suite}:end -->"
        if begin not in doc:
            sys.exit(f"BENCHMARKS.md has no {begin} marker")
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        path.write_text(head + begin + "\n" + text + "\n" + end + tail)
        print(f"updated {path}")


if __name__ == "__main__":
    main()
