"""Runs `reflex bench sac` and its peer side by side, alternating, and prints medians and ratios (plus JSON lines
of every run to --out). The machine is shared, so both wall time and process CPU time are reported; the ratio of
CPU times is the fairer single-thread figure when other jobs compete for the cores.

    # RLtools' configuration (peer built by sac_rltools.py), 5 seeds:
    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_compare.py --preset rltools --seeds 0,1,2,3,4
    # rl-zoo3's configuration against Stable-Baselines3 (one SB3 run takes minutes):
    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_compare.py --preset sb3 --seeds 0,1,2,3,4 \
        --peer-seeds 0,1 --threads 1,2
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent


def reflex(preset, seed, threads, binary):
    out = subprocess.run([binary, "bench", "sac", "--preset", preset, "--seeds", str(seed), "--threads", str(threads),
                          "--json"], capture_output=True, text=True, check=True).stdout
    r = json.loads(out)["runs"][0]
    return {"who": f"reflex-{threads}t", "seed": seed, "seconds": r["seconds"], "cpu_seconds": r["cpuSeconds"],
            "final_mean_return": r["finalMeanReturn"]}


def peer(preset, seed):
    script = here / ("sac_rltools.py" if preset == "rltools" else "sac_sb3.py")
    out = subprocess.run([sys.executable, str(script), "--seed", str(seed), "--json"], capture_output=True, text=True,
                         check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {"who": "rltools" if preset == "rltools" else "sb3-1t", "seed": seed, "seconds": r["seconds"],
            "cpu_seconds": r["cpu_seconds"], "final_mean_return": r.get("final_mean_return")}


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
    print(f"{'who':<12} {'runs':>4} {'wall s':>9} {'cpu s':>9} {'final return':>13}")
    med = {}
    for w in who:
        rs = [r for r in runs if r["who"] == w]
        med[w] = (statistics.median(r["seconds"] for r in rs), statistics.median(r["cpu_seconds"] for r in rs))
        rets = [r["final_mean_return"] for r in rs if r["final_mean_return"] is not None]
        print(f"{w:<12} {len(rs):>4} {med[w][0]:>9.3f} {med[w][1]:>9.3f} {statistics.mean(rets) if rets else float('nan'):>13.1f}")
    base = "rltools" if a.preset == "rltools" else "sb3-1t"
    if base in med:
        for w in who:
            if w != base:
                print(f"{base} / {w}: wall {med[base][0] / med[w][0]:.2f}x, cpu {med[base][1] / med[w][1]:.2f}x")


if __name__ == "__main__":
    main()
