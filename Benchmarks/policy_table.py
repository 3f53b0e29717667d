#!/usr/bin/env python3
"""Prints the markdown table of Benchmarks/policies.sh results (reads WORKDIR/eval-*.json and expert-*.txt)."""
import glob, json, os, re, sys

w = sys.argv[1] if len(sys.argv) > 1 else "/tmp/reflex-policies"
rows = []
for task in ("lift", "push"):
    exp = os.path.join(w, f"expert-{task}.txt")
    if os.path.exists(exp):
        m = re.search(r"(\d+) episodes, (\d+) successful", open(exp).read())
        if m:
            rows.append((task, "scripted expert", "-", "-", f"{int(m[2]) / int(m[1]) * 100:.1f}%", "", "-", "-", "-"))
    for path in sorted(glob.glob(os.path.join(w, f"eval-{task}-*.json"))):
        name = os.path.basename(path)[len(f"eval-{task}-"):-5]
        r = json.load(open(path))
        rep = r["report"]
        lo, hi = rep["success_interval"]
        kind = "BC" if name.startswith("bc") else ("diffusion, ε-pred" if "-eps-" in f"-{name}" else "diffusion, x0-pred")
        rows.append((task, kind, r["sampler"], str(r.get("action_steps") or "policy"),
                     f"{rep['success_rate'] * 100:.1f}%", f"{lo * 100:.1f}–{hi * 100:.1f}%",
                     f"{rep['evaluations_per_call']:.2f}", f"{rep['evaluations_per_step']:.2f}",
                     f"{rep['latency_p50_micros']:.0f} / {rep['latency_p99_micros']:.0f}"))
print("| task | policy | sampler | actions per call | success | 95% CI | evals / call | evals / step | latency p50 / p99 (µs) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
