#!/usr/bin/env python3
"""Hardware in the loop vs pure simulation, on the same seeds: the bundled lift policy

  1. in `reflex eval` (the task environment stepped synchronously, no loop, no safety layer),
  2. in `reflex run --sim --episodes N` (the real-time loop, the safety layer, the Bullet arm in-process),
  3. in `reflex run --port … --camera … --episodes N` against `reflex emulate --robot so101 --sim lift` over a
     pseudo-terminal (joints only through the Feetech bus, the cube's pose over the camera channel, the emulator's
     Bullet arm as the scorer),

the loop rows with the default safety settings, with the approach at the velocity limit
(Benchmarks/hil/approach-at-velocity-limit.yaml), and with that plus inference inside the tick (`--inline`, eval's
timing). Prints a markdown table (or writes it into BENCHMARKS.md). `--reuse DIR` takes the reports already in DIR
(from an earlier run's raw-report directory) and runs only the missing rows.

  Benchmarks/hil.py [--episodes 50] [--seed 1000] [--write] [--reuse DIR]
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare import REFLEX, ROOT, cpu_name  # noqa: E402

POLICY = ROOT / "policies" / "so101-lift"
FAST = ROOT / "Benchmarks" / "hil" / "approach-at-velocity-limit.yaml"


def wilson(k, n, z=1.959964):
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def run(cmd, log):
    print("$", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    with open(log, "w") as f:
        subprocess.run([str(c) for c in cmd], check=True, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)


def loop_rows(path):
    r = json.loads(pathlib.Path(path).read_text())
    return {e["seed"]: e for e in r["episodeResults"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--write", action="store_true", help="replace the HIL block of BENCHMARKS.md")
    ap.add_argument("--reuse", help="directory of an earlier run's reports: rows found there are not run again")
    a = ap.parse_args()
    n, s = a.episodes, a.seed
    tmp = pathlib.Path(a.reuse) if a.reuse else pathlib.Path(tempfile.mkdtemp(prefix="reflex-hil-"))
    common = ["--policy", POLICY, "--episodes", n, "--seed", s]

    def have(tag):
        return a.reuse and (tmp / f"{tag}.json").exists()

    if not have("eval"):
        run([REFLEX, "eval", *common, "--workers", "1", "--quiet", "--out", tmp / "eval.json"], tmp / "eval.log")
    ev = json.loads((tmp / "eval.json").read_text())["report"]["episode_results"]
    results = {"eval": {e["seed"]: {"success": e["success"], "seconds": e["steps"] / 20, "deadlineMisses": 0,
                                    "featureHolds": 0} for e in ev}}

    variants = [("", []), ("-fast", ["--safety", FAST]), ("-inline-fast", ["--inline", "--safety", FAST])]
    for suffix, extra in variants:
        tag = "sim" + suffix
        if not have(tag):
            run([REFLEX, "run", "--sim", *common, *extra, "--report", tmp / f"{tag}.json"], tmp / f"{tag}.log")
        results[tag] = loop_rows(tmp / f"{tag}.json")

    for suffix, extra in variants:
        tag = "hil" + suffix
        if have(tag):
            results[tag] = loop_rows(tmp / f"{tag}.json")
            continue
        link, cam = tmp / f"{tag}-so101", tmp / f"{tag}-so101.cam"
        emu = subprocess.Popen([str(REFLEX), "emulate", "--robot", "so101", "--sim", "lift", "--link", str(link),
                                "--camera", str(cam)], stdout=open(tmp / f"{tag}-emulate.log", "w"),
                               stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            for _ in range(100):
                if link.exists() and cam.exists():
                    break
                time.sleep(0.1)
            run([REFLEX, "run", "--port", link, "--camera", cam, *common, *extra, "--report", tmp / f"{tag}.json"],
                tmp / f"{tag}.log")
        finally:
            emu.terminate()
            emu.wait()
        results[tag] = loop_rows(tmp / f"{tag}.json")

    labels = {
        "eval": "`reflex eval` (task env stepped synchronously; no loop, no safety layer)",
        "sim": "`reflex run --sim` (real-time loop, default safety: approach 0.5 rad/s)",
        "sim-fast": "`reflex run --sim`, approach at the velocity limit",
        "sim-inline-fast": "`reflex run --sim --inline`, approach at the velocity limit",
        "hil": "HIL: `reflex run --port --camera` ↔ `reflex emulate --sim lift` (default safety)",
        "hil-fast": "HIL, approach at the velocity limit",
        "hil-inline-fast": "HIL `--inline`, approach at the velocity limit",
    }
    head = ("| run | successes | rate | 95% Wilson | agrees with eval | mean time to success s | deadline misses | "
            "ticks held for a stale camera |\n|---|---|---|---|---|---|---|---|")
    rows = []
    seeds = sorted(results["eval"])
    for tag, label in labels.items():
        r = results[tag]
        k = sum(1 for x in r.values() if x["success"])
        lo, hi = wilson(k, len(r))
        agree = sum(1 for sd in seeds if sd in r and r[sd]["success"] == results["eval"][sd]["success"])
        t = [x["seconds"] for x in r.values() if x["success"]]
        mean_t = sum(t) / len(t) if t else float("nan")
        misses = sum(x["deadlineMisses"] for x in r.values())
        holds = sum(x["featureHolds"] for x in r.values())
        rows.append(f"| {label} | {k}/{len(r)} | **{100 * k / len(r):.0f}%** | {100 * lo:.1f}–{100 * hi:.1f}% | "
                    f"{agree}/{len(seeds)} | {mean_t:.2f} | {misses} | {holds} |")
    date = datetime.date.today().isoformat()
    block = "\n".join([head] + rows) + (
        f"\n\nMeasured {date} on {cpu_name()} (2 cores, shared with other builds), seeds {s}…{s + n - 1} for every "
        f"row, 20 Hz, 6 s of loop time per episode (eval: 120 steps); reproduce with "
        f"`Benchmarks/hil.py --episodes {n} --seed {s}`.")
    print(f"raw reports: {tmp}", file=sys.stderr)
    print(block)
    if a.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        new = f"<!-- hil:begin -->\n{block}\n<!-- hil:end -->"
        if "<!-- hil:begin -->" in text:
            text = re.sub(r"<!-- hil:begin -->.*?<!-- hil:end -->", lambda _: new, text, flags=re.S)
        else:
            print("no <!-- hil:begin --> marker in BENCHMARKS.md; paste the block by hand", file=sys.stderr)
        path.write_text(text)


if __name__ == "__main__":
    main()
