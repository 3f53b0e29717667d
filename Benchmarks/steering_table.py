#!/usr/bin/env python3
"""Prints the markdown tables of Benchmarks/steering.sh (WORKDIR/eval-*.json, WORKDIR/{dsrl,dsrl-na,sac}/metrics.csv)
and, when matplotlib is importable, draws the learning curves to WORKDIR/steering_curves.svg."""
import csv, json, os, sys

w = sys.argv[1] if len(sys.argv) > 1 else "/tmp/reflex-steering"
rows = [("base", "ddim:10, w ~ N(0, I)"), ("rti", "RTI 2,1,0, 2 actions per call"), ("dsrl", "DSRL-SAC noise actor"),
        ("dsrl-na", "DSRL-NA noise actor"), ("vgps10", "V-GPS K = 10"), ("vgps50", "V-GPS K = 50"),
        ("dsrl-vgps10", "DSRL + V-GPS K = 10"), ("rti-renoise", "RTI re-noised 2,1,0 (first chunk DDIM:10), 2 actions per call"),
        ("dsrl-rti", "DSRL + RTI re-noised"), ("all", "DSRL + RTI re-noised + V-GPS K = 10"),
        ("vgps1", "K = 1 (latency reference)"), ("vgps8", "V-GPS K = 8")]
print("| run | success | 95% CI | evals / call | evals / control step | latency p50 / p99 (µs) |")
print("|---|---|---|---|---|---|")
for key, label in rows:
    path = os.path.join(w, f"eval-{key}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))["report"]
    lo, hi = r["success_interval"]
    print(f"| {label} | {r['success_rate'] * 100:.1f}% | {lo * 100:.1f}–{hi * 100:.1f}% | {r['evaluations_per_call']:.1f} | "
          f"{r['evaluations_per_step']:.2f} | {r['latency_p50_micros']:.0f} / {r['latency_p99_micros']:.0f} |")

# Learning curves: deterministic evaluations on the trainer's 50 fixed starts. A DSRL step executes a chunk of 4
# actions, so its environment steps are at most 4 × its steps (fewer when an episode ends inside a chunk).
curves = []
for name, label, per_step in (("dsrl", "DSRL-SAC", 4), ("dsrl-na", "DSRL-NA", 4), ("sac", "SAC from scratch (joints, dense reward)", 1)):
    path = os.path.join(w, name, "metrics.csv")
    if not os.path.exists(path):
        continue
    pts = [(int(r["step"]) * per_step, float(r["eval_success_rate"])) for r in csv.DictReader(open(path)) if r["eval_success_rate"]]
    curves.append((label, pts))
if curves:
    # One column per 10k environment steps (DSRL evaluates every 2,500 chunks = ≤ 10k steps, SAC every 10k steps).
    steps = sorted({s for _, pts in curves for s, _ in pts})
    print("\n| environment steps | " + " | ".join(f"{s // 1000}k" for s in steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for label, pts in curves:
        at = dict(pts)
        print(f"| {label} | " + " | ".join(f"{at[s] * 100:.0f}%" if s in at else "" for s in steps) + " |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for label, pts in curves:
            ax.plot([s for s, _ in pts], [v * 100 for _, v in pts], marker="o", label=label)
        base = os.path.join(w, "eval-base.json")
        if os.path.exists(base):
            ax.axhline(json.load(open(base))["report"]["success_rate"] * 100, color="gray", ls="--", label="base policy (200 held-out starts)")
        ax.set_xlabel("environment steps (DSRL: 4 per chunk, an upper bound)")
        ax.set_ylabel("lift success, 50 starts (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(w, "steering_curves.svg"))
        print(f"\nwrote {os.path.join(w, 'steering_curves.svg')}")
    except ImportError:
        pass
