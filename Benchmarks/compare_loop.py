#!/usr/bin/env python3
"""Runs `reflex bench loop` and its Python peer (Benchmarks/peers/loop_python.py, a LeRobot-style loop with the same
torch network) one after the other on the same machine, and prints (or writes into BENCHMARKS.md) the control-loop
table: deadline misses, period jitter percentiles, tick duration and inference latency of each.

  Benchmarks/compare_loop.py [--rate 100] [--seconds 60] [--samplers ddim:10,ddpm] [--write]

Reflex runs from .build/release/reflex; the peer from the venv of Benchmarks/peers/setup.sh.
"""
import argparse
import datetime
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare import PY, REFLEX, ROOT, cpu_name, run_json  # noqa: E402


def row(label, out):
    s = out["snapshot"]
    c, t = s["counters"], s["timings"]
    j, d, i = t["period_jitter"], t["tick_duration"], t["inference_latency"]
    rt = out["realtime"]
    fifo = "SCHED_FIFO" if rt.get("fifoGranted") else "normal priority"
    return (f"| {label} | {fifo} | {c['ticks']} | **{c['deadlineMisses']}** | {j['p50']:,.1f} | **{j['p99']:,.1f}** | "
            f"{j['max']:,.1f} | {d['p50']:,.1f} / {d['p99']:,.1f} | {i['p50']:,.1f} / {i['p99']:,.1f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--samplers", default="ddim:10,ddpm")
    ap.add_argument("--write", action="store_true", help="replace the loop section of BENCHMARKS.md")
    a = ap.parse_args()
    rate, secs = str(a.rate), str(a.seconds)
    rows = []
    for sampler in a.samplers.split(","):
        name = f"{sampler} ({'100' if sampler == 'ddpm' else sampler.split(':')[1]} denoiser evaluations)"
        r = run_json([str(REFLEX), "bench", "loop", "--json", "--rate", rate, "--seconds", secs, "--sampler", sampler])
        rows.append(row(f"Reflex, inference on the worker thread, {name}", r))
        p = run_json([str(PY), str(ROOT / "Benchmarks/peers/loop_python.py"), "--rate", rate, "--seconds", secs,
                      "--sampler", sampler])
        rows.append(row(f"Python (LeRobot loop, precise_sleep, inference inline), {name}", p))
        if sampler == a.samplers.split(",")[0]:
            # The same loops without their defining trait: Reflex inferring inside the tick, Python with SCHED_FIFO.
            ri = run_json([str(REFLEX), "bench", "loop", "--json", "--rate", rate, "--seconds", secs, "--sampler", sampler,
                           "--inline"])
            rows.append(row(f"Reflex, inference inside the tick, {name}", ri))
            pf = run_json([str(PY), str(ROOT / "Benchmarks/peers/loop_python.py"), "--rate", rate, "--seconds", secs,
                           "--sampler", sampler, "--priority", "80"])
            rows.append(row(f"Python (LeRobot loop) with SCHED_FIFO 80, {name}", pf))
    head = ("| loop | scheduling | ticks | deadline misses | jitter p50 µs | jitter p99 µs | jitter max µs | "
            "tick p50 / p99 µs | inference p50 / p99 µs |\n|---|---|---|---|---|---|---|---|---|")
    date = datetime.date.today().isoformat()
    block = "\n".join([head] + rows) + (
        f"\n\nMeasured {date} on {cpu_name()} (2 cores, shared with other builds), {a.rate:g} Hz for {a.seconds:g} s each, "
        f"one after the other; reproduce with `Benchmarks/compare_loop.py --rate {a.rate:g} --seconds {a.seconds:g} "
        f"--samplers {a.samplers}`.")
    print(block)
    if a.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        new = f"<!-- loop:begin -->\n{block}\n<!-- loop:end -->"
        if "<!-- loop:begin -->" in text:
            text = re.sub(r"<!-- loop:begin -->.*?<!-- loop:end -->", lambda _: new, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n## Control loop\n\n" + new + "\n"
        path.write_text(text)


if __name__ == "__main__":
    main()
