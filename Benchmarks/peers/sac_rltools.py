"""RLtools' Pendulum SAC (src/rl/environments/pendulum/sac/cpu/training.cpp at 9acdf5c: 3-layer 64-unit MLPs, batch
100, 10,000 steps), built by hand outside the repository (nothing of RLtools, nor a script that builds it, is part of
Reflex; BENCHMARKS.md, "SAC", gives the two g++ commands) with OpenBLAS and -Ofast -march=native, as the RLtools
paper benchmarks it. The peer of `reflex bench sac --preset rltools`.

Two binaries from the same source: `sac_bench` (-DBENCHMARK: training only; RLtools prints its own timer of the
training loop) and `sac_eval` (the same run with RLtools' periodic evaluation of 100 episodes, for the final return).
Both timer boundaries are reported: `seconds` is RLtools' own training-loop timer, `process_seconds` and
`cpu_seconds` the whole `sac_bench` process (wall, and user + system CPU from rusage), start-up included.

    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_rltools.py --bench DIR/sac_bench --eval DIR/sac_eval --seed 0 --json
"""
import argparse
import json
import os
import re
import resource
import subprocess
import tempfile
import time

COMMIT = "9acdf5c83cf2e7f2871cc4c37d002d5e3666d723"


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench", default=os.path.expanduser("~/.cache/reflex/rltools/sac_bench"),
                    help="RLtools' training.cpp built with -DBENCHMARK")
    ap.add_argument("--eval", default=os.path.expanduser("~/.cache/reflex/rltools/sac_eval"),
                    help="the same source built without -DBENCHMARK (for the final return)")
    ap.add_argument("--no-eval", action="store_true", help="only time the benchmark build")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    bench, evaluate = a.bench, a.eval
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cwd = tempfile.mkdtemp(prefix="rltools-")  # the eval build writes an experiments/ directory
    c0, w0 = children_cpu(), time.perf_counter()
    out = subprocess.run([str(bench), str(a.seed)], env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout
    wall, cpu = time.perf_counter() - w0, children_cpu() - c0
    loop = float(re.findall(r"Time: ([0-9.]+)s", out)[-1])
    result = {"peer": "rltools", "commit": COMMIT, "seed": a.seed, "steps": 10_000, "seconds": loop,
              "process_seconds": wall, "cpu_seconds": cpu, "steps_per_second": 10_000 / loop}
    if not a.no_eval:
        text = subprocess.run([str(evaluate), str(a.seed)], env=env, cwd=cwd, capture_output=True, text=True,
                              check=True).stdout
        returns = re.findall(r"Step: 10000/10000 Mean return: (-?[0-9.]+)", text)
        result["final_mean_return"] = float(returns[-1]) if returns else None
        result["evaluation_episodes"] = 100
    print(json.dumps(result) if a.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
