#!/usr/bin/env python3
"""Prints the markdown tables of Benchmarks/policies.sh results (reads WORKDIR/equal-*.json, eval-*.json and
expert-*.txt).

The first table is RTI at equal cost: every row on the bundled policy and the same 200 starts, grouped by network
evaluations per control step; within a group, each RTI row is compared episode by episode with the group's DDIM row
(paired: episodes only the RTI row lifted / only the DDIM row lifted)."""
import glob, json, os, re, sys

w = sys.argv[1] if len(sys.argv) > 1 else "/tmp/reflex-policies"


def load(path):
    r = json.load(open(path))
    return r, r["report"]


def interval(rep):
    lo, hi = rep["success_interval"]
    return f"{lo * 100:.1f}–{hi * 100:.1f}%"


def latency(rep):
    mx = rep.get("latency_max_micros")
    return f"{rep['latency_p50_micros']:.0f} / {rep['latency_p99_micros']:.0f}" + (f" / {mx:.0f}" if mx is not None else "")


equal = sorted(glob.glob(os.path.join(w, "equal-*.json")))
if equal:
    print("| group | sampler | actions per call | success | 95% CI | evals / call | evals / step | most evals in one call | latency p50 / p99 / max (µs) | vs the group's DDIM: only this / only DDIM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    groups = {}
    for path in equal:
        name = os.path.basename(path)[len("equal-"):-5]
        groups.setdefault(name.split("-")[0], []).append((name, *load(path)))
    for g, rows in sorted(groups.items()):
        ddim = next((rep for name, r, rep in rows if r["sampler"].startswith("ddim") or r["sampler"] == "ddpm"), None)
        for name, r, rep in rows:
            paired = ""
            if ddim is not None and rep is not ddim and r["sampler"].startswith("rti"):
                a = {e["index"]: e["success"] for e in rep["episode_results"]}
                b = {e["index"]: e["success"] for e in ddim["episode_results"]}
                only_this = sum(1 for k in a if a[k] and not b.get(k, False))
                only_ddim = sum(1 for k in a if b.get(k, False) and not a[k])
                paired = f"{only_this} / {only_ddim}"
            print("| " + " | ".join([g, r["sampler"], str(r.get("action_steps") or "policy"),
                                      f"{rep['success_rate'] * 100:.1f}%", interval(rep),
                                      f"{rep['evaluations_per_call']:.2f}", f"{rep['evaluations_per_step']:.2f}",
                                      str(rep.get("evaluations_max_per_call", "")), latency(rep), paired]) + " |")
    print()

rows = []
for task in ("lift", "push"):
    exp = os.path.join(w, f"expert-{task}.txt")
    if os.path.exists(exp):
        m = re.search(r"(\d+) episodes, (\d+) successful", open(exp).read())
        if m:
            rows.append((task, "scripted expert", "-", "-", f"{int(m[2]) / int(m[1]) * 100:.1f}%", "", "-", "-", "-"))
    for path in sorted(glob.glob(os.path.join(w, f"eval-{task}-*.json"))):
        name = os.path.basename(path)[len(f"eval-{task}-"):-5]
        r, rep = load(path)
        kind = "BC" if name.startswith("bc") else ("diffusion, ε-pred" if "-eps-" in f"-{name}" else "diffusion, x0-pred")
        rows.append((task, kind, r["sampler"], str(r.get("action_steps") or "policy"),
                     f"{rep['success_rate'] * 100:.1f}%", interval(rep),
                     f"{rep['evaluations_per_call']:.2f}", f"{rep['evaluations_per_step']:.2f}", latency(rep)))
if rows:
    print("| task | policy | sampler | actions per call | success | 95% CI | evals / call | evals / step | latency p50 / p99 (µs) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
