"""Runs `reflex bench sac` and its peer side by side, alternating, and prints medians and ratios (plus JSON lines
of every run to --out). The machine is shared, so both wall time and CPU time are reported, and only figures taken at
the same timer boundary are compared: the training loop by each side's own timer, or the whole process (wall and
user + system CPU from rusage, start-up included) for both.

    # RLtools' configuration (its two binaries built by hand: BENCHMARKS.md, "SAC"), 5 seeds:
    RLTOOLS_BENCH=DIR/sac_bench RLTOOLS_EVAL=DIR/sac_eval \
    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_compare.py --preset rltools --seeds 0,1,2,3,4
    # rl-zoo3's configuration against Stable-Baselines3 (one SB3 run takes minutes):
    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_compare.py --preset sb3 --seeds 0,1,2,3,4 \
        --peer-seeds 0,1 --threads 1,2
"""
import argparse
import json
import pathlib
import statistics
import os
import resource
import subprocess
import sys
import time

here = pathlib.Path(__file__).resolve().parent
# RLtools' two binaries, built by hand (BENCHMARKS.md, "SAC"); sac_rltools.py's defaults when unset.
RLTOOLS_BENCH = os.environ.get("RLTOOLS_BENCH")
RLTOOLS_EVAL = os.environ.get("RLTOOLS_EVAL")
root = here.parent.parent


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reflex(preset, seed, threads, binary):
    c0, w0 = children_cpu(), time.perf_counter()
    out = subprocess.run([binary, "bench", "sac", "--preset", preset, "--seeds", str(seed), "--threads", str(threads),
                          "--json"], capture_output=True, text=True, check=True).stdout
    wall, cpu = time.perf_counter() - w0, children_cpu() - c0
    r = json.loads(out)["runs"][0]
    # seconds: the training loop (Reflex's own timer); process_*: the whole process (start-up, the loop and its
    # 10 evaluation episodes), the same boundary as RLtools' process figures.
    return {"who": f"reflex-{threads}t", "seed": seed, "seconds": r["seconds"], "loop_cpu_seconds": r["cpuSeconds"],
            "process_seconds": wall, "process_cpu_seconds": cpu, "final_mean_return": r["finalMeanReturn"]}


def peer(preset, seed):
    script = here / ("sac_rltools.py" if preset == "rltools" else "sac_sb3.py")
    extra = ["--bench", RLTOOLS_BENCH, "--eval", RLTOOLS_EVAL] if preset == "rltools" and RLTOOLS_BENCH else []
    out = subprocess.run([sys.executable, str(script), "--seed", str(seed), "--json"] + extra, capture_output=True,
                         text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if preset == "rltools":  # seconds: RLtools' own loop timer; process_*: the whole sac_bench process
        return {"who": "rltools", "seed": seed, "seconds": r["seconds"], "process_seconds": r["process_seconds"],
                "process_cpu_seconds": r["cpu_seconds"], "final_mean_return": r.get("final_mean_return")}
    return {"who": "sb3-1t", "seed": seed, "seconds": r["seconds"], "loop_cpu_seconds": r["cpu_seconds"],
            "final_mean_return": r.get("final_mean_return")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=["rltools", "sb3"], required=True)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--peer-seeds", help="seeds the peer runs (default: all)")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--binary", default=str(root / ".build/release/reflex"))
    ap.add_argument("--out", default="/tmp/sac_compare.jsonl")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    peer_seeds = [int(s) for s in (a.peer_seeds or a.seeds).split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    runs = []
    with open(a.out, "a") as log:
        for seed in seeds:
            batch = [reflex(a.preset, seed, threads[0], a.binary)]
            if seed in peer_seeds:
                batch.append(peer(a.preset, seed))
            for t in threads[1:]:
                if seed in peer_seeds:
                    batch.append(reflex(a.preset, seed, t, a.binary))
            for r in batch:
                r["preset"] = a.preset
                print(json.dumps(r), flush=True)
                log.write(json.dumps(r) + "\n")
            runs += batch
    who = sorted({r["who"] for r in runs})
    print(f"\npreset {a.preset}: median over runs (returns: mean over seeds)")
    keys = [("seconds", "loop wall s"), ("loop_cpu_seconds", "loop cpu s"), ("process_seconds", "process wall s"),
            ("process_cpu_seconds", "process cpu s")]
    print(f"{'who':<12} {'runs':>4} " + " ".join(f"{h:>15}" for _, h in keys) + f" {'final return':>13}")
    med = {}
    for w in who:
        rs = [r for r in runs if r["who"] == w]
        med[w] = {k: statistics.median(r[k] for r in rs) for k, _ in keys if all(k in r for r in rs)}
        rets = [r["final_mean_return"] for r in rs if r["final_mean_return"] is not None]
        cells = " ".join(f"{med[w][k]:>15.3f}" if k in med[w] else f"{'-':>15}" for k, _ in keys)
        print(f"{w:<12} {len(rs):>4} {cells} {statistics.mean(rets) if rets else float('nan'):>13.1f}")
    base = "rltools" if a.preset == "rltools" else "sb3-1t"
    if base in med:
        for w in who:
            if w != base:
                same = [(h, med[base][k] / med[w][k]) for k, h in keys if k in med[base] and k in med[w]]
                print(f"{base} / {w} (same boundary only): " + ", ".join(f"{h} {r:.2f}x" for h, r in same))

if __name__ == "__main__":
    main()
