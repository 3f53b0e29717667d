#!/usr/bin/env python3
"""Prints docs/delay.md's table from the results JSONs Benchmarks/delay.sh wrote: Benchmarks/delay_table.py DIR"""
import glob
import json
import os
import sys

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/reflex-delay"
rows = []
for path in glob.glob(os.path.join(d, "*.json")):
    r = json.load(open(path))
    rep = r["report"]
    name = os.path.basename(path)[:-5].rsplit("-d", 1)[0]
    rows.append((r.get("delay", 0), name, r["sampler"], rep))
order = ["sync", "rti-sync", "naive", "ensemble", "rti", "rti-delay", "rtc-replace", "rtc"]
rows.sort(key=lambda x: (x[0], order.index(x[1]) if x[1] in order else 99))
print("| D | strategy | sampler | success | 95% CI | evals / step | VJPs / call | jerk (1e-5 rad²) | boundary jump mean / max (rad) | held steps |")
print("|---|---|---|---|---|---|---|---|---|---|")
for delay, name, sampler, rep in rows:
    lo, hi = rep["success_interval"]
    print(f"| {delay} | {name} | {sampler.split(' ')[0]} | {100 * rep['success_rate']:.1f}% | {100 * lo:.1f}–{100 * hi:.1f}% "
          f"| {rep['evaluations_per_step']:.3f} | {rep['guidance_products_per_call']:.1f} | {1e5 * rep['mean_jerk']:.2f} "
          f"| {rep['mean_boundary_jump']:.4f} / {rep['max_boundary_jump']:.4f} | {rep['held_steps']} |")
